// The reports page's pure pieces: bands in words, days filled, CSV escaped and translated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { band, csvField, duration, fillDays, reportCsv, rowName } from '../../web/report-text.js';

const EN = { s: 's', min: 'min', h: 'h', d: 'd', under: 'under {x}', orMore: '{x} or more' };

test('durations and bands read as a person would say them', () => {
  assert.equal(duration(45, EN), '45 s');
  assert.equal(duration(300, EN), '5 min');
  assert.equal(duration(7200, EN), '2 h');
  assert.equal(duration(5400, EN), '1.5 h');
  assert.equal(duration(172800, EN), '2 d');
  assert.equal(band(null, EN), '—');
  assert.equal(band({ from_secs: 0, to_secs: 60 }, EN), 'under 1 min');
  assert.equal(band({ from_secs: 60, to_secs: 120 }, EN), '1–2 min');
  assert.equal(band({ from_secs: 1800, to_secs: 3600 }, EN), '30 min–1 h');
  assert.equal(band({ from_secs: 172800, to_secs: null }, EN), '2 d or more');
});

test('a period has every day, zeros where nothing happened', () => {
  const days = fillDays('2026-02-27', '2026-03-02', [{ day: '2026-03-01', messages_in: 3, messages_out: 1, new_prospects: 0 }]);
  assert.deepEqual(days.map((d) => d.day), ['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
  assert.deepEqual(days.map((d) => d.messages_in), [0, 0, 3, 0]);
});

test('CSV fields are quoted and never formulas', () => {
  assert.equal(csvField('Ana'), 'Ana');
  assert.equal(csvField('Pérez, Ana'), '"Pérez, Ana"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvField(-3), '-3');
  assert.equal(csvField(null), '');
});

test('the report as CSV: a line for the totals, each team and each executive, in the reader\'s words', () => {
  const fig = (n) => ({ open: n, unread: 0, waiting: 1, waiting_long: 0, messages_in: n, messages_out: 2, new_prospects: 0,
    reassigned_in: 0, reassigned_out: 0,
    responses: { count: 1, median: { from_secs: 60, to_secs: 120 }, p90: { from_secs: 60, to_secs: 120 } },
    first_responses: { count: 0, median: null, p90: null } });
  const report = { from: '2026-12-01', to: '2026-12-07', totals: fig(5),
    teams: [{ team_id: 1, executive_id: null, name: 'BOOM', figures: fig(5) }],
    executives: [{ team_id: null, executive_id: 9, name: 'Ana', figures: fig(4) }, { team_id: 1, executive_id: null, name: '', figures: fig(1) }] };
  const words = { ...EN, total: 'Total', team: 'Team', executive: 'Executive', unassigned: 'Unassigned ({team})',
    headers: Object.fromEntries(['kind', 'name', 'from', 'to', 'open', 'unread', 'waiting', 'waitingLong', 'messagesIn', 'messagesOut',
      'newProspects', 'reassignedIn', 'reassignedOut', 'replies', 'median', 'p90', 'firstMedian', 'firstP90'].map((k) => [k, k])) };
  const lines = reportCsv(report, words).trimEnd().split('\r\n');
  assert.equal(lines.length, 5);
  assert.equal(lines[0].split(',').length, 18);
  assert.equal(lines[1], 'Total,,2026-12-01,2026-12-07,5,0,1,0,5,2,0,0,0,1,1–2 min,1–2 min,—,—');
  assert.match(lines[3], /^Executive,Ana,/);
  assert.match(lines[4], /^Executive,Unassigned \(BOOM\),/);
  assert.equal(rowName(report, report.executives[1], words), 'Unassigned (BOOM)');
});
