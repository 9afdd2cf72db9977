// The live call monitor (#/calls): today's calls the user can see (an executive her own, a
// coordinator her teams', an admin all), counted by status and outcome, and the active ones
// grouped by team and executive. Loaded over REST, then kept current from `table:calls`: each
// changed call is refetched (its prospect's team and name come with it, visibility included).
// Below, the pending scheduled calls the user sees, soonest first, live from `table:scheduled_calls`.
import { ApiError, get } from './api.js';
import { fmtDateTime, fmtNumber, fmtTime, t } from './i18n.js';
import { liveClient } from './live.js';
import { teamName, userName } from './main.js';
import { clear, h } from './ui.js';

const STATUSES = ['queued', 'ringing', 'in_progress', 'completed', 'no_answer', 'failed'];
const ACTIVE = new Set(['queued', 'ringing', 'in_progress']);

function isToday(iso) {
  const d = new Date(iso);
  const now = new Date();
  return d.getUTCFullYear() === now.getUTCFullYear() && d.getUTCMonth() === now.getUTCMonth() && d.getUTCDate() === now.getUTCDate();
}

/** Mounts the monitor in `view`; returns its destroy function. */
export function mountCalls(view) {
  const calls = new Map(); // call_id -> call
  let agenda = []; // pending scheduled calls, soonest first
  const body = h('div', { class: 'calls-body' });
  const root = h('section', { class: 'calls', 'aria-labelledby': 'calls-title' },
    h('h1', { id: 'calls-title', class: 'calls-title' }, t('calls.title')), body);
  clear(view, root);
  let alive = true;
  let unsub = null;

  function render() {
    if (!alive) return;
    const today = [...calls.values()].filter((c) => isToday(c.created_at));
    const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    const outcomes = new Map();
    for (const c of today) {
      byStatus[c.status] += 1;
      if (c.outcome) outcomes.set(c.outcome, (outcomes.get(c.outcome) ?? 0) + 1);
    }
    const active = today.filter((c) => ACTIVE.has(c.status));
    const cards = h('ul', { class: 'call-counts', 'aria-label': t('calls.today') },
      h('li', { class: 'call-count', dataset: { status: 'total' } },
        h('span', { class: 'n' }, fmtNumber(today.length)), h('span', { class: 'label' }, t('calls.total'))),
      ...STATUSES.map((s) => h('li', { class: 'call-count', dataset: { status: s } },
        h('span', { class: 'n' }, fmtNumber(byStatus[s])), h('span', { class: 'label' }, t(`calls.status.${s}`)))));
    const outcomeList = outcomes.size
      ? h('ul', { class: 'call-outcomes' }, ...[...outcomes].sort((a, b) => b[1] - a[1])
        .map(([o, n]) => h('li', {}, h('span', {}, o), h('span', { class: 'n' }, fmtNumber(n)))))
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
      h('h2', {}, t('calls.active'), ' ', h('span', { class: 'active-total' }, fmtNumber(active.length))), activeList,
      h('h2', {}, t('calls.outcomes')), outcomeList,
      h('h2', {}, t('calls.scheduled')), agendaList);
    root.dataset.state = 'ready';
  }

  async function load() {
    const page = await get('/calls?today=true&limit=500');
    calls.clear();
    for (const c of page.items) calls.set(c.call_id, c);
    render();
  }

  async function loadAgenda() {
    agenda = await get('/scheduled-calls?status=pending&limit=100');
    render();
  }

  async function refresh(id) {
    try {
      calls.set(id, await get(`/calls/${id}`));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) calls.delete(id);
      else throw e;
    }
    render();
  }

  const client = liveClient();
  let unsubAgenda = null;
  if (client) {
    unsubAgenda = client.subscribe('table:scheduled_calls', {
      onSubscribed: () => loadAgenda().catch(() => {}),
      onEvent: () => loadAgenda().catch(() => {}),
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
        } else refresh(id).catch(() => {});
      },
      onReset: () => load().catch(() => {}),
    });
  } else {
    load().catch(() => {});
    loadAgenda().catch(() => {});
  }
  return () => {
    alive = false;
    unsub?.();
    unsubAgenda?.();
  };
}
