// The live call monitor (#/calls): today's calls the user can see (an executive her own, a
// coordinator her teams', an admin all) — "today" being the browser's local day — counted exactly
// by the server (`/calls/summary?since=<local midnight>`: total, active, by status, by outcome),
// and the active ones grouped by team and executive. Loaded over REST, then kept current from
// `table:calls`: each changed call is refetched (its prospect's team and name come with it,
// visibility included) and the summary is refetched, debounced. At local midnight it starts over.
// Below, the pending scheduled calls the user sees, soonest first, live from `table:scheduled_calls`.
import { ApiError, get, query } from './api.js';
import { callOutcome, fmtDateTime, fmtNumber, fmtTime, t } from './i18n.js';
import { liveClient, refetcher } from './live.js';
import { teamName, userName } from './directory.js';
import { clear, h } from './ui.js';

const STATUSES = ['queued', 'ringing', 'in_progress', 'completed', 'no_answer', 'failed'];
const ACTIVE = new Set(['queued', 'ringing', 'in_progress']);

/** The start of the browser's current local day. */
function localMidnight(now = new Date()) {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate());
}

/** Mounts the monitor in `view`; returns its destroy function. */
export function mountCalls(view) {
  const calls = new Map(); // call_id -> active call of today
  let summary = null; // the server's counts of today's calls
  let since = localMidnight();
  let agenda = []; // pending scheduled calls, soonest first
  const body = h('div', { class: 'calls-body' });
  const root = h('section', { class: 'calls', 'aria-labelledby': 'calls-title' },
    h('h1', { id: 'calls-title', class: 'calls-title' }, t('calls.title')), body);
  clear(view, root);
  let alive = true;
  let unsub = null;

  function render() {
    if (!alive || !summary) return;
    const byStatus = summary.by_status;
    const outcomes = Object.entries(summary.by_outcome);
    const active = [...calls.values()].filter((c) => ACTIVE.has(c.status) && new Date(c.created_at) >= since);
    const cards = h('ul', { class: 'call-counts', 'aria-label': t('calls.today') },
      h('li', { class: 'call-count', dataset: { status: 'total' } },
        h('span', { class: 'n' }, fmtNumber(summary.total)), h('span', { class: 'label' }, t('calls.total'))),
      ...STATUSES.map((s) => h('li', { class: 'call-count', dataset: { status: s } },
        h('span', { class: 'n' }, fmtNumber(byStatus[s] ?? 0)), h('span', { class: 'label' }, t(`calls.status.${s}`)))));
    const outcomeList = outcomes.length
      ? h('ul', { class: 'call-outcomes' }, ...outcomes.sort((a, b) => b[1] - a[1])
        .map(([o, n]) => h('li', {}, h('span', {}, callOutcome(o)), h('span', { class: 'n' }, fmtNumber(n)))))
      : h('p', { class: 'muted' }, t('calls.noOutcomes'));
    // Active calls by team, then executive.
    const groups = new Map();
    for (const c of active) {
      const key = `${c.team_id}`;
      if (!groups.has(key)) groups.set(key, new Map());
      const byExec = groups.get(key);
      const e = c.executive_id ?? 0;
      if (!byExec.has(e)) byExec.set(e, []);
      byExec.get(e).push(c);
    }
    const activeList = active.length
      ? h('div', { class: 'call-groups' }, ...[...groups].map(([team, byExec]) => h('section', { class: 'call-team' },
        h('h3', {}, teamName(Number(team))),
        ...[...byExec].map(([exec, list]) => h('div', { class: 'call-exec' },
          h('h4', {}, exec ? userName(exec) : t('inbox.unassigned')),
          h('ul', { class: 'active-calls' }, ...list.sort((a, b) => b.call_id - a.call_id).map((c) =>
            h('li', { class: 'active-call', dataset: { id: c.call_id, status: c.status } },
              h('span', { class: 'who' }, c.prospect_name),
              h('span', { class: `call-status s-${c.status}` }, t(`calls.status.${c.status}`)),
              h('span', { class: 'muted' }, fmtTime(c.started_at ?? c.created_at))))))))))
      : h('p', { class: 'muted calls-idle' }, t('calls.noActive'));
    const agendaList = agenda.length
      ? h('ul', { class: 'agenda' }, ...agenda.map((s) => h('li', { class: 'agenda-item', dataset: { id: s.scheduled_call_id } },
        h('span', { class: 'when' }, fmtDateTime(s.due_at)),
        h('span', { class: 'who' }, s.prospect_name),
        h('span', { class: 'muted' }, userName(s.executive_id)),
        s.note ? h('span', { class: 'muted note' }, s.note) : null)))
      : h('p', { class: 'muted agenda-empty' }, t('calls.noScheduled'));
    clear(body,
      h('h2', {}, t('calls.today')), cards,
      h('h2', {}, t('calls.active'), ' ', h('span', { class: 'active-total' }, fmtNumber(summary.active))), activeList,
      h('h2', {}, t('calls.outcomes')), outcomeList,
      h('h2', {}, t('calls.scheduled')), agendaList);
    root.dataset.state = 'ready';
  }

  // Only the newest answer of each read is shown (answers may come back out of order).
  const seq = { summary: 0, active: 0, agenda: 0 };
  async function loadSummary() {
    const day = since;
    const mine = ++seq.summary;
    const next = await get(`/calls/summary${query({ since: day.toISOString() })}`);
    if (day !== since || mine !== seq.summary) return; // the day changed meanwhile, or a newer read was made
    summary = next;
    render();
  }

  /** Today's active calls (few: a page of each active status). */
  async function loadActive() {
    const day = since;
    const mine = ++seq.active;
    const pages = await Promise.all([...ACTIVE].map((status) =>
      get(`/calls${query({ since: day.toISOString(), status, limit: 500 })}`)));
    if (day !== since || mine !== seq.active) return;
    calls.clear();
    for (const page of pages) for (const c of page.items) calls.set(c.call_id, c);
    render();
  }

  const load = () => Promise.all([loadSummary(), loadActive()]);

  /** Refetches the counts once a burst of call events is over. */
  const summarySoon = refetcher(() => loadSummary().catch(() => {}), 250);

  // At the next local midnight, a new day starts with zero counts.
  let dayTimer = null;
  function scheduleNewDay() {
    const next = new Date(since.getFullYear(), since.getMonth(), since.getDate() + 1);
    dayTimer = setTimeout(() => {
      since = localMidnight();
      load().catch(() => {});
      scheduleNewDay();
    }, Math.max(1000, next - Date.now() + 500));
  }
  scheduleNewDay();

  async function loadAgenda() {
    const mine = ++seq.agenda;
    const next = await get('/scheduled-calls?status=pending&limit=100');
    if (mine !== seq.agenda) return;
    agenda = next;
    render();
  }
  const agendaSoon = refetcher(() => loadAgenda().catch(() => {}), 50);

  const reads = new Map(); // call_id -> the number of its newest read
  async function refresh(id) {
    const mine = (reads.get(id) ?? 0) + 1;
    reads.set(id, mine);
    let call = null;
    try {
      call = await get(`/calls/${id}`);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    if (reads.get(id) !== mine) return;
    if (call) calls.set(id, call);
    else calls.delete(id);
    render();
  }
  // Each changed call is read at once (the server announces a change once a read sees it).
  function refreshSoon(id) {
    refresh(id).catch(() => {});
  }

  const client = liveClient();
  let unsubAgenda = null;
  if (client) {
    unsubAgenda = client.subscribe('table:scheduled_calls', {
      onSubscribed: () => loadAgenda().catch(() => {}),
      onEvent: agendaSoon,
      onReset: () => loadAgenda().catch(() => {}),
    });
    unsub = client.subscribe('table:calls', {
      onSubscribed: () => load().catch(() => {}),
      onEvent: (e) => {
        const id = e.row?.call_id;
        if (id == null) return;
        if (e.op === 'delete') {
          calls.delete(id);
          render();
        } else refreshSoon(id);
        summarySoon();
      },
      onReset: () => load().catch(() => {}),
    });
  } else {
    load().catch(() => {});
    loadAgenda().catch(() => {});
  }
  return {
    destroy() {
      alive = false;
      summarySoon.cancel();
      agendaSoon.cancel();
      clearTimeout(dayTimer);
      unsub?.();
      unsubAgenda?.();
    },
  };
}
