// The prospect panel beside a conversation (a drawer below 1180 px): the contact — name, e-mail,
// notes and the tenant's contact fields, each edited in place and saved on change with its own
// state and errors in the reader's language —, placement and stage, reassignment, the prospect's
// past conversations and calls, and the assignment history. One screen contract:
// `mountProspectPanel(el, opts)` -> `{ reload, focusClose, destroy }`.
import { get, patch, post, query } from './api.js';
import { fmtDateTime, fmtRelative, prospectName, t } from './i18n.js';
import { can } from './capabilities.js';
import { executives, myTeams, teamName, userName } from './directory.js';
import { contactError, inputType, patchBody } from './contact.js';
import { navigate } from './router.js';
import { clear, errorText, field, h, hue, initials, select, showError, toast } from './ui.js';

const STAGES = ['new', 'contacted', 'interested', 'negotiating', 'won', 'lost'];

/**
 * Mounts the panel of prospect `prospectId` into `el`. `conversationId` is the conversation on
 * screen (marked in the past conversations); `onClose` closes the drawer; `onProspect(p)` hears
 * each loaded or saved prospect (the conversation header shows its name).
 */
export function mountProspectPanel(el, { prospectId, conversationId, onClose, onProspect }) {
  const st = { p: null, defs: [], history: [], convs: [], calls: [], destroyed: false, defsSig: null,
    // When each field was last saved: its "Saved" survives the re-render the change's own live
    // update brings.
    savedAt: new Map() };
  const closeBtn = h('button', { class: 'icon-btn info-close', type: 'button', 'aria-label': t('common.close'), onclick: () => onClose?.() }, '×');

  async function reload() {
    if (!prospectId || st.destroyed) return;
    try {
      const [p, history, defs, convs, calls] = await Promise.all([
        get(`/prospects/${prospectId}`),
        get(`/prospects/${prospectId}/assignments`),
        get('/prospect-fields').catch(() => []),
        get(`/prospects/${prospectId}/conversations`).catch(() => []),
        get(`/calls${query({ prospect_id: prospectId, limit: 20 })}`).then((r) => r.items, () => []),
      ]);
      if (st.destroyed) return;
      Object.assign(st, { p, history, defs, convs, calls });
      onProspect?.(p);
      render();
    } catch (e) {
      if (e.status !== 404) showError(e);
    }
  }

  // --- contact: one editor per field, saved on change ---
  function editor({ name, label, value, control, isCustom }) {
    const state = h('span', { class: 'save-state', 'aria-live': 'polite' });
    const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
    control.name = isCustom ? `custom.${name}` : name;
    control.value = value ?? '';
    control.dataset.saved = control.value;
    if (Date.now() - (st.savedAt.get(control.name) ?? 0) < 4000) {
      state.textContent = t('contact.saved');
      state.dataset.state = 'saved';
    }
    control.addEventListener('change', async () => {
      if (control.value === control.dataset.saved) return;
      state.textContent = t('contact.saving');
      state.dataset.state = 'saving';
      error.hidden = true;
      control.removeAttribute('aria-invalid');
      try {
        const p = await patch(`/prospects/${prospectId}`, patchBody(name, control.value, isCustom));
        st.p = p;
        onProspect?.(p);
        const now = isCustom ? p.custom?.[name] : p[name];
        control.value = now ?? '';
        control.dataset.saved = control.value;
        state.textContent = t('contact.saved');
        state.dataset.state = 'saved';
        st.savedAt.set(control.name, Date.now());
        if (name === 'name') nameHead.textContent = prospectName(p.name);
      } catch (e) {
        const known = contactError(e, st.defs);
        state.textContent = '';
        delete state.dataset.state;
        error.textContent = known ? t(known.key, known.vars) : errorText(e);
        error.hidden = false;
        control.setAttribute('aria-invalid', 'true');
      }
    });
    return h('div', { class: 'field contact-field', dataset: { field: control.name } },
      h('label', { class: 'field-label', for: `pp-${prospectId}-${control.name}` }, label, ' ', state),
      Object.assign(control, { id: `pp-${prospectId}-${control.name}` }), error);
  }

  function customControl(def) {
    if (def.kind === 'select') {
      return select([{ value: '', label: t('common.none') }, ...def.options.map((o) => ({ value: o, label: o }))], '');
    }
    return h('input', { type: inputType(def.kind), step: def.kind === 'number' ? 'any' : null, maxlength: def.kind === 'text' ? 500 : null });
  }

  let nameHead = h('h3', {});
  function contactSection() {
    const p = st.p;
    return h('section', { class: 'contact', 'aria-label': t('contact.title') },
      h('h3', {}, t('contact.title')),
      editor({ name: 'name', label: t('contact.name'), value: p.name, control: h('input', { type: 'text', maxlength: 200, autocomplete: 'off', required: true }) }),
      editor({ name: 'email', label: t('contact.email'), value: p.email, control: h('input', { type: 'email', maxlength: 254, autocomplete: 'off', inputmode: 'email' }) }),
      editor({ name: 'notes', label: t('contact.notes'), value: p.notes, control: h('textarea', { rows: 3, maxlength: 4000 }) }),
      st.defs.map((d) => editor({ name: d.key, label: d.label, value: p.custom?.[d.key], control: customControl(d), isCustom: true })));
  }

  // --- placement, stage, reassignment (as before the move) ---
  function factsSection() {
    const p = st.p;
    const stageSel = select(STAGES.map((s) => ({ value: s, label: t(`stage.${s}`) })), p.stage, { name: 'stage', id: `stage-${prospectId}` });
    stageSel.addEventListener('change', async () => {
      try {
        st.p = await patch(`/prospects/${p.prospect_id}`, { stage: stageSel.value });
        toast(t('common.saved'));
      } catch (e) {
        showError(e);
        stageSel.value = st.p.stage;
      }
    });
    const rows = [
      [t('prospect.phone'), p.phone ?? t('prospect.noPhone')],
      [t('prospect.team'), teamName(p.team_id)],
      [t('prospect.executive'), userName(p.executive_id)],
    ];
    return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      h('dt', {}, t('prospect.stage')), h('dd', {}, h('label', { class: 'sr-only', for: `stage-${prospectId}` }, t('prospect.stage')), stageSel));
  }

  function reassignForm() {
    if (!can('reassign')) return null;
    const p = st.p;
    const teamSel = select([{ value: '', label: t('reassign.keep') }, ...myTeams().map((x) => ({ value: x.team_id, label: x.name }))], '', { name: 'team_id' });
    const execSel = select([{ value: '', label: t('reassign.keep') }, ...executives().map((u) => ({ value: u.user_id, label: u.display_name }))], '', { name: 'executive_id' });
    const form = h('form', { class: 'reassign' }, h('h3', {}, t('reassign.title')),
      field(t('reassign.team'), teamSel), field(t('reassign.executive'), execSel),
      h('button', { class: 'btn btn-primary btn-small', type: 'submit' }, t('reassign.submit')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      if (teamSel.value) body.team_id = Number(teamSel.value);
      if (execSel.value) body.executive_id = Number(execSel.value);
      if (!Object.keys(body).length) return toast(t('bulk.needTarget'), 'error');
      try {
        await post(`/prospects/${p.prospect_id}/reassign`, body);
        toast(t('reassign.done'));
        await reload();
      } catch (err) {
        showError(err);
      }
    });
    return form;
  }

  // --- the prospect's past conversations and calls ---
  function pastSection() {
    const convs = st.convs.map((c) => {
      const here = c.conversation_id === conversationId;
      const label = `${c.channel === 'whatsapp' ? 'WhatsApp' : c.channel} · ${t(`contact.conv.${c.status}`)}`;
      const body = [h('div', { class: 'past-title' }, label, here ? h('span', { class: 'pill' }, t('contact.conv.here')) : null),
        h('div', { class: 'muted small past-preview' }, c.last_message_preview ?? t('contact.conv.empty')),
        h('div', { class: 'muted small' }, t('contact.conv.count', { n: c.message_count }),
          c.last_message_at ? ` · ${fmtRelative(c.last_message_at)}` : '')];
      return h('li', {}, here ? h('div', { class: 'past-item' }, body)
        : h('button', { class: 'past-item past-link', type: 'button', onclick: () => navigate(`#/c/${c.conversation_id}`) }, body));
    });
    const calls = st.calls.map((c) => h('li', { class: 'past-item' },
      h('div', { class: 'past-title' }, t(`calls.status.${c.status}`),
        c.duration_secs != null ? ` · ${t('contact.call.duration', { min: Math.floor(c.duration_secs / 60), sec: c.duration_secs % 60 })}` : ''),
      c.outcome ? h('div', { class: 'small' }, c.outcome) : null,
      h('div', { class: 'muted small' }, fmtDateTime(c.started_at ?? c.created_at), c.executive_id ? ` · ${userName(c.executive_id)}` : '')));
    return h('section', { class: 'past', 'aria-label': t('contact.past') },
      h('h3', {}, t('contact.conversations')),
      convs.length ? h('ul', { class: 'past-list past-convs' }, convs) : h('p', { class: 'muted' }, t('contact.noConversations')),
      h('h3', {}, t('contact.calls')),
      calls.length ? h('ul', { class: 'past-list past-calls' }, calls) : h('p', { class: 'muted' }, t('contact.noCalls')));
  }

  function historySection() {
    const history = st.history;
    return [h('h3', {}, t('prospect.history')),
      history.length
        ? h('ol', { class: 'history' }, history.map((a) => h('li', {},
          h('div', {}, t('prospect.historyRow', {
            from: `${a.from_team_id == null ? t('common.none') : teamName(a.from_team_id)} / ${a.from_executive_id == null ? t('inbox.unassigned') : userName(a.from_executive_id)}`,
            to: `${teamName(a.to_team_id)} / ${userName(a.to_executive_id)}`,
          })),
          h('div', { class: 'muted small' }, fmtDateTime(a.created_at), a.actor_user_id ? ` · ${t('prospect.by', { name: userName(a.actor_user_id) })}` : ''))))
        : h('p', { class: 'muted' }, t('prospect.noHistory'))];
  }

  // The panel's parts: the contact is updated in place (a live update never replaces a value
  // being typed or not yet saved); the rest is rebuilt unless a control of it has the focus.
  const headEl = h('div', { class: 'info-head' });
  const contactEl = h('div', {});
  const restEl = h('div', {});

  function renderHead() {
    const p = st.p;
    nameHead = h('h3', {}, prospectName(p.name));
    clear(headEl, h('div', { class: 'avatar avatar-xl', style: `--h:${hue(p.name)}`, 'aria-hidden': 'true' }, initials(p.name)), nameHead);
  }

  function valueOf(control) {
    const n = control.name;
    return (n.startsWith('custom.') ? st.p.custom?.[n.slice(7)] : st.p[n]) ?? '';
  }

  function renderContact() {
    const sig = JSON.stringify(st.defs.map((d) => [d.key, d.label, d.kind, d.options]));
    if (sig === st.defsSig) {
      for (const c of contactEl.querySelectorAll('[name]')) {
        if (c === document.activeElement || c.value !== c.dataset.saved) continue;
        c.value = valueOf(c);
        c.dataset.saved = c.value;
      }
      return;
    }
    if (contactEl.contains(document.activeElement)) return;
    st.defsSig = sig;
    clear(contactEl, contactSection());
  }

  function renderRest() {
    if (restEl.contains(document.activeElement)) return;
    clear(restEl, factsSection(), reassignForm(), pastSection(), historySection());
  }

  function render() {
    if (!st.p || st.destroyed) return;
    if (!el.contains(headEl)) clear(el, closeBtn, headEl, contactEl, restEl);
    renderHead();
    renderContact();
    renderRest();
  }

  reload();
  return {
    reload,
    focusClose() {
      closeBtn.focus();
    },
    destroy() {
      st.destroyed = true;
      clear(el);
    },
  };
}
