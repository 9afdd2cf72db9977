// The reports page (#/reports): what the reader's part of the tenant holds now (open, unread,
// waiting) and did over a period (messages, new prospects, reassignments, response times), in
// total, per team and per executive, as the server computes them for the reader's visibility.
// Live: it reads again after the messages, conversations and prospects it sees change (one read
// per burst), and each minute for "waiting longer than" (a figure the clock moves). Charts are
// drawn with uPlot (vendored, MIT); every chart has its table.
import { get, query } from './api.js';
import { fmtNumber, t } from './i18n.js';
import { liveClient, refetcher } from './live.js';
import { band, fillDays, reportCsv, rowName } from './report-text.js';
import { clear, h, showError } from './ui.js';
import { can } from './capabilities.js';

// Tick steps for counts: whole numbers only.
const COUNTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000];

let uPlotModule = null;
async function loadUPlot() {
  if (!document.querySelector('link[data-uplot]')) {
    document.head.append(h('link', { rel: 'stylesheet', href: '/app/vendor/uplot/uPlot.min.css', dataset: { uplot: '1' } }));
  }
  uPlotModule ??= (await import('./vendor/uplot/uPlot.esm.js')).default;
  return uPlotModule;
}

function words() {
  return {
    s: t('reports.unit.s'), min: t('reports.unit.min'), h: t('reports.unit.h'), d: t('reports.unit.d'),
    under: t('reports.band.under'), orMore: t('reports.band.orMore'),
    total: t('reports.total'), team: t('reports.team'), executive: t('reports.executive'),
    unassigned: t('reports.unassigned'),
    headers: Object.fromEntries(['kind', 'name', 'from', 'to', 'open', 'unread', 'waiting', 'waitingLong', 'messagesIn',
      'messagesOut', 'newProspects', 'reassignedIn', 'reassignedOut', 'replies', 'median', 'p90', 'firstMedian',
      'firstP90'].map((k) => [k, t(`reports.col.${k}`)])),
  };
}

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Mounts the reports page in `view`; returns its destroy. */
export function mountReports(view) {
  let alive = true;
  let seq = 0;
  let report = null;
  const charts = [];
  const st = { preset: '7', from: '', to: '', waiting: 15 };

  const preset = h('select', { name: 'period', 'aria-label': t('reports.period') },
    ['1', '7', '30', '90', 'custom'].map((v) => h('option', { value: v }, t(`reports.preset.${v}`))));
  preset.value = st.preset;
  const from = h('input', { type: 'date', name: 'from', 'aria-label': t('reports.from'), hidden: true });
  const to = h('input', { type: 'date', name: 'to', 'aria-label': t('reports.to'), hidden: true });
  const waiting = h('input', { type: 'number', name: 'waiting', min: 1, max: 10080, value: st.waiting, 'aria-label': t('reports.waitingMinutes') });
  const csv = h('button', { class: 'btn', type: 'button' }, t('reports.csv'));
  const updated = h('span', { class: 'muted reports-updated', 'aria-live': 'off' });
  const controls = h('form', { class: 'reports-controls' },
    h('label', {}, h('span', {}, t('reports.period')), preset),
    from, to,
    h('label', {}, h('span', {}, t('reports.waitingMinutes')), waiting),
    csv, updated);
  const body = h('div', { class: 'reports-body' }, h('p', { class: 'muted' }, t('reports.loading')));
  const root = h('section', { class: 'reports-page', 'aria-labelledby': 'reports-title' },
    h('h1', { id: 'reports-title' }, t('reports.title')), controls, body);
  clear(view, root);
  document.title = `${t('reports.title')} · ${t('app.name')}`;

  preset.addEventListener('change', () => {
    const custom = preset.value === 'custom';
    from.hidden = !custom;
    to.hidden = !custom;
    if (custom && !from.value) {
      from.value = report?.from ?? '';
      to.value = report?.to ?? '';
    }
    load();
  });
  for (const el of [from, to, waiting]) el.addEventListener('change', () => load());
  controls.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  csv.addEventListener('click', () => report && download(report));

  function params() {
    const waitingMinutes = Math.min(10080, Math.max(1, Number(waiting.value) || 15));
    if (preset.value === 'custom' && from.value && to.value) return { from: from.value, to: to.value, waiting_minutes: waitingMinutes };
    const days = Number(preset.value === 'custom' ? '7' : preset.value);
    // The server's "today" is the tenant's; the browser's is close enough to choose a start, and
    // `to` is left to the server.
    const start = new Date(Date.now() - (days - 1) * 86400000);
    return { from: isoDay(start), waiting_minutes: waitingMinutes };
  }

  async function load() {
    const mine = ++seq;
    try {
      const r = await get(`/reports${query(params())}`);
      if (!alive || mine !== seq) return;
      report = r;
      render(r);
    } catch (e) {
      if (!alive || mine !== seq) return;
      showError(e);
    }
  }

  function card(key, value, hint) {
    return h('div', { class: 'kpi', dataset: { figure: key } },
      h('div', { class: 'kpi-value' }, value),
      h('div', { class: 'kpi-label' }, t(`reports.kpi.${key}`, { m: report?.waiting_minutes ?? st.waiting })),
      hint ? h('div', { class: 'kpi-hint muted' }, hint) : null);
  }

  function render(r) {
    const w = words();
    const x = r.totals;
    updated.textContent = t('reports.updated', { time: new Date(r.generated_at).toLocaleTimeString() });
    const kpis = h('div', { class: 'kpis', role: 'list', 'aria-label': t('reports.summary') },
      [card('open', fmtNumber(x.open)), card('unread', fmtNumber(x.unread)), card('waiting', fmtNumber(x.waiting)),
        card('waitingLong', fmtNumber(x.waiting_long)), card('messagesIn', fmtNumber(x.messages_in)),
        card('messagesOut', fmtNumber(x.messages_out)), card('newProspects', fmtNumber(x.new_prospects)),
        card('reassigned', fmtNumber(x.reassigned_in)),
        card('median', band(x.responses.median, w), t('reports.replies', { n: x.responses.count })),
        card('p90', band(x.responses.p90, w)),
        card('firstMedian', band(x.first_responses.median, w), t('reports.replies', { n: x.first_responses.count }))]
        .map((c) => { c.setAttribute('role', 'listitem'); return c; }));
    const days = fillDays(r.from, r.to, r.days);
    const dayChart = h('div', { class: 'chart', role: 'img', 'aria-label': t('reports.chart.days') });
    const histChart = h('div', { class: 'chart', role: 'img', 'aria-label': t('reports.chart.responses') });
    const dayTable = h('details', { class: 'chart-table' }, h('summary', {}, t('reports.asTable')),
      table([t('reports.col.day'), t('reports.col.messagesIn'), t('reports.col.messagesOut'), t('reports.col.newProspects')],
        days.map((d) => [d.day, fmtNumber(d.messages_in), fmtNumber(d.messages_out), fmtNumber(d.new_prospects)])));
    const histTable = h('details', { class: 'chart-table' }, h('summary', {}, t('reports.asTable')),
      table([t('reports.col.band'), t('reports.col.replies'), t('reports.col.firstReplies')],
        x.responses.histogram.map((n, i) => [bucketText(r, i, w), fmtNumber(n), fmtNumber(x.first_responses.histogram[i])])));
    // Team rows are named by their team; executive rows by the person (or "Unassigned (team)").
    const rowsOf = (rows, teams) => rows.map((row) => {
      const f = row.figures;
      return [teams ? row.name : rowName(r, row, w), fmtNumber(f.open), fmtNumber(f.unread), fmtNumber(f.waiting), fmtNumber(f.waiting_long),
        fmtNumber(f.messages_in), fmtNumber(f.messages_out), fmtNumber(f.new_prospects), fmtNumber(f.reassigned_in),
        band(f.responses.median, w), band(f.responses.p90, w), band(f.first_responses.median, w)];
    });
    const head = (first) => [first, t('reports.col.open'), t('reports.col.unread'), t('reports.col.waiting'),
      t('reports.col.waitingLong', { m: r.waiting_minutes }), t('reports.col.messagesIn'), t('reports.col.messagesOut'),
      t('reports.col.newProspects'), t('reports.col.reassignedIn'), t('reports.col.median'), t('reports.col.p90'),
      t('reports.col.firstMedian')];
    clear(body,
      h('p', { class: 'muted reports-period' }, t('reports.periodText', { from: r.from, to: r.to, tz: r.time_zone })),
      kpis,
      h('div', { class: 'charts' },
        h('section', { class: 'chart-box' }, h('h2', {}, t('reports.chart.days')), dayChart, dayTable),
        h('section', { class: 'chart-box' }, h('h2', {}, t('reports.chart.responses')), histChart, histTable)),
      h('section', { class: 'reports-table-box', 'aria-labelledby': 'reports-people' },
        h('h2', { id: 'reports-people' }, t('reports.people')),
        r.executives.length ? h('div', { class: 'table-scroll' }, table(head(t('reports.col.executive')), rowsOf(r.executives), 'reports-executives'))
          : h('p', { class: 'muted' }, t('reports.none'))),
      can('see_teams') ? h('section', { class: 'reports-table-box', 'aria-labelledby': 'reports-teams' },
        h('h2', { id: 'reports-teams' }, t('reports.teams')),
        r.teams.length ? h('div', { class: 'table-scroll' }, table(head(t('reports.col.team')), rowsOf(r.teams, true), 'reports-teams'))
          : h('p', { class: 'muted' }, t('reports.none'))) : null);
    drawCharts(r, days, dayChart, histChart).catch(() => {});
  }

  function bucketText(r, i, w) {
    const b = r.response_bounds_secs;
    return band({ from_secs: i === 0 ? 0 : b[i - 1], to_secs: i < b.length ? b[i] : null }, w);
  }

  async function drawCharts(r, days, dayEl, histEl) {
    const uPlot = await loadUPlot();
    if (!alive) return;
    for (const c of charts.splice(0)) c.destroy();
    const width = Math.max(260, Math.min(640, dayEl.clientWidth || 600));
    const xs = days.map((_, i) => i);
    const label = (i) => days[i]?.day.slice(5) ?? '';
    const style = getComputedStyle(document.documentElement);
    const accent = style.getPropertyValue('--accent').trim() || '#128c7e';
    charts.push(new uPlot({
      width, height: 200, scales: { x: { time: false } },
      axes: [{ values: (_, ticks) => ticks.map((i) => (Number.isInteger(i) ? label(i) : '')) }, { incrs: COUNTS }],
      series: [{ label: t('reports.col.day'), value: (_, i) => (i == null ? '' : label(i)) }, { label: t('reports.col.messagesIn'), stroke: accent, width: 2 },
        { label: t('reports.col.messagesOut'), stroke: '#6b7280', width: 2, dash: [6, 4] }],
    }, [xs, days.map((d) => d.messages_in), days.map((d) => d.messages_out)], dayEl));
    const bars = uPlot.paths.bars({ size: [0.7, 40] });
    const hx = r.totals.responses.histogram.map((_, i) => i);
    charts.push(new uPlot({
      width, height: 200, scales: { x: { time: false, range: [-0.5, hx.length - 0.5] } },
      axes: [{ values: (_, ticks) => ticks.map((i) => (Number.isInteger(i) ? bucketText(r, i, words()) : '')), rotate: 0 }, { incrs: COUNTS }],
      series: [{ label: t('reports.col.band'), value: (_, i) => (i == null ? '' : bucketText(r, i, words())) },
        { label: t('reports.col.replies'), fill: accent, stroke: accent, paths: bars, points: { show: false } }],
    }, [hx, r.totals.responses.histogram], histEl));
  }

  function table(headers, rows, cls = '') {
    return h('table', { class: `table ${cls}` },
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, row.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c)))))));
  }

  function download(r) {
    const blob = new Blob([`\ufeff${reportCsv(r, words())}`], { type: 'text/csv;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `platica-${t('reports.file')}-${r.from}-${r.to}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // Live: one read per burst of changes the reader sees, and each minute for the clock.
  const soon = refetcher(() => load(), 300);
  const client = liveClient();
  const unsubs = client ? ['messages', 'conversations', 'prospects'].map((table) =>
    client.subscribe(`table:${table}`, { onEvent: soon, onReset: soon })) : [];
  const minute = setInterval(() => load(), 60000);
  load();

  return {
    destroy() {
      alive = false;
      soon.cancel();
      clearInterval(minute);
      for (const u of unsubs) u?.();
      for (const c of charts.splice(0)) c.destroy();
    },
  };
}
