// Pure pieces of the reports page (tested with node): response-time bands in words, the days of
// a period with zeros where nothing happened, and the CSV export. Nothing here touches the page.

/** A duration in seconds as short words: "45 s", "5 min", "2 h", "2 d" (`words` supplies the
 * unit words of the reader's language: { s, min, h, d }). */
export function duration(secs, words) {
  if (secs < 60) return `${secs} ${words.s}`;
  if (secs < 3600) return `${Math.round(secs / 60)} ${words.min}`;
  if (secs < 86400) return `${Math.round(secs / 360) / 10} ${words.h}`.replace('.0 ', ' ');
  return `${Math.round(secs / 8640) / 10} ${words.d}`.replace('.0 ', ' ');
}

/** A response-time band ({from_secs, to_secs}) as words: "1–2 min", "under 1 min" (first
 * bucket), "2 d or more" (last); `null` (no replies) as "—". `words` adds { under, orMore }
 * (templates with {x}). */
export function band(b, words) {
  if (!b) return '—';
  if (!b.from_secs) return words.under.replace('{x}', duration(b.to_secs, words));
  if (b.to_secs == null) return words.orMore.replace('{x}', duration(b.from_secs, words));
  const from = duration(b.from_secs, words);
  const to = duration(b.to_secs, words);
  // "1–2 min" rather than "1 min–2 min" when both have the same unit.
  const [fv, fu] = from.split(' ');
  const [tv, tu] = to.split(' ');
  return fu === tu ? `${fv}–${tv} ${tu}` : `${from}–${to}`;
}

/** Every day from `from` to `to` (ISO dates, included) with the report's day rows, zeros where
 * the report has none. */
export function fillDays(from, to, days) {
  const by = new Map(days.map((d) => [d.day, d]));
  const out = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= end && out.length <= 400; at += 86400000) {
    const day = new Date(at).toISOString().slice(0, 10);
    out.push(by.get(day) ?? { day, messages_in: 0, messages_out: 0, new_prospects: 0 });
  }
  return out;
}

/** An executives row's name: the person's, or "Unassigned (<team>)" for a team's prospects
 * without one (`words.unassigned` has {team}). */
export function rowName(report, r, words) {
  if (r.executive_id != null) return r.name;
  const team = report.teams.find((x) => x.team_id === r.team_id)?.name ?? '';
  return words.unassigned.replace('{team}', team);
}

/** One CSV field: quoted when it holds a separator, a quote or a line break; a leading = + - @
 * is prefixed with ' so a spreadsheet never runs it as a formula. */
export function csvField(v) {
  let s = v == null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",;\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The report as CSV (one line per row: the totals, each team, each executive), with the
 * headers and row kinds in the reader's language (`words`: { headers: {...}, total, team,
 * executive, unassigned }) and bands as words. */
export function reportCsv(report, words) {
  const f = (x) => [x.open, x.unread, x.waiting, x.waiting_long, x.messages_in, x.messages_out,
    x.new_prospects, x.reassigned_in, x.reassigned_out, x.responses.count,
    band(x.responses.median, words), band(x.responses.p90, words),
    band(x.first_responses.median, words), band(x.first_responses.p90, words)];
  const H = words.headers;
  const lines = [[H.kind, H.name, H.from, H.to, H.open, H.unread, H.waiting, H.waitingLong, H.messagesIn,
    H.messagesOut, H.newProspects, H.reassignedIn, H.reassignedOut, H.replies, H.median, H.p90,
    H.firstMedian, H.firstP90]];
  const row = (kind, name, x) => lines.push([kind, name, report.from, report.to, ...f(x)]);
  row(words.total, '', report.totals);
  for (const r of report.teams) row(words.team, r.name, r.figures);
  for (const r of report.executives) row(words.executive, rowName(report, r, words), r.figures);
  return lines.map((l) => l.map(csvField).join(',')).join('\r\n') + '\r\n';
}
