// Bulk reassignment: a chosen set of prospects, or every prospect matching the inbox's filter,
// moved to a team and/or an executive in one transaction (POST /prospects/bulk-reassign).
import { post } from './api.js';
import { t } from './i18n.js';
import { executives, myTeams, teamName, userName } from './directory.js';
import { clear, field, h, modal, select, showError, errorText } from './ui.js';

/**
 * selection: { prospect_ids: [...], count } or { filter: { q?, team_id?, executive_id? }, count }.
 * onDone() after a successful move.
 */
export function openBulkReassign(selection, onDone) {
  const m = modal(t('bulk.title'));
  const teams = myTeams();
  const teamSel = select([{ value: '', label: t('reassign.keep') }, ...teams.map((x) => ({ value: x.team_id, label: x.name }))], '', { name: 'team_id' });
  const execSel = select([{ value: '', label: t('reassign.keep') }, ...executives().map((u) => ({ value: u.user_id, label: u.display_name }))], '', { name: 'executive_id' });

  const target = () => {
    const body = {};
    if (teamSel.value) body.team_id = Number(teamSel.value);
    if (execSel.value) body.executive_id = Number(execSel.value);
    return body;
  };
  const describe = (b) => [b.team_id ? teamName(b.team_id) : null, b.executive_id ? userName(b.executive_id) : null].filter(Boolean).join(' · ');

  function step1() {
    const err = h('p', { class: 'field-error', role: 'alert', hidden: true });
    const form = h('form', { class: 'bulk-form' },
      h('p', { class: 'lead' }, t('bulk.count', { n: selection.count })),
      field(t('reassign.team'), teamSel), field(t('reassign.executive'), execSel), err,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('bulk.next'))));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const b = target();
      if (!Object.keys(b).length) {
        err.hidden = false;
        err.textContent = t('bulk.needTarget');
        return;
      }
      step2(b);
    });
    clear(m.body, form);
    teamSel.focus();
  }

  function step2(b) {
    const run = h('button', { class: 'btn btn-primary', type: 'button', onclick: () => step3(b) }, t('bulk.run'));
    clear(m.body,
      h('p', { class: 'lead' }, t('bulk.confirm', { n: selection.count })),
      h('p', {}, t('bulk.confirmTo', { target: describe(b) })),
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: step1 }, t('common.cancel')), run));
    run.focus();
  }

  async function step3(b) {
    const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-label': t('bulk.running') }, h('div', { class: 'progress-bar' }));
    clear(m.body, h('p', { class: 'lead' }, t('bulk.running')), bar);
    const body = { ...b };
    if (selection.prospect_ids) body.prospect_ids = selection.prospect_ids;
    else body.filter = selection.filter;
    try {
      const r = await post('/prospects/bulk-reassign', body);
      const close = h('button', { class: 'btn btn-primary', type: 'button', onclick: () => m.close() }, t('common.close'));
      clear(m.body,
        h('div', { class: 'progress done', role: 'progressbar', 'aria-valuenow': '100', 'aria-valuemin': '0', 'aria-valuemax': '100' }, h('div', { class: 'progress-bar' })),
        h('p', { class: 'lead bulk-result', role: 'status' }, t('bulk.result', { moved: r.moved, matched: r.matched, unchanged: r.unchanged })),
        h('div', { class: 'actions' }, close));
      close.focus();
      onDone?.(r);
    } catch (e) {
      clear(m.body, h('p', { class: 'field-error', role: 'alert' }, errorText(e)),
        h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: step1 }, t('common.cancel'))));
      showError(e);
    }
  }

  step1();
  return m;
}

