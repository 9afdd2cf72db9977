// The bot screen (`#/admin/bot`, a tab of admin.js, admins only): the tenant's bot settings
// (`/bot/settings`: on/off, greeting, out-of-hours and fallback replies, office days and hours
// with their time zone, and the humanised typing delay range, in seconds here and milliseconds
// in the API), its rules in the order they are tried (`/bot/rules`: add, edit, activate, move up
// or down with buttons or by dragging, delete after a confirmation; the order is saved whole with
// `PUT /bot/rules/order`), "try a message" (`POST /bot/try`: the server runs the bot's own
// decision on the stored rules and says which rule answers and what, or why nothing does), and
// the conversations where the bot is paused (`/bot/paused`) with resume and a link to each.
import { del, get, patch, post, put } from './api.js';
import { fmtDateTime, prospectName, t } from './i18n.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';

/** `ids` with the element at `from` moved to `to` (both indexes clamped to the list). */
export function moveId(ids, from, to) {
  const out = [...ids];
  if (from < 0 || from >= out.length) return out;
  const target = Math.max(0, Math.min(out.length - 1, to));
  const [x] = out.splice(from, 1);
  out.splice(target, 0, x);
  return out;
}

/** Milliseconds as seconds for an input ("1.5"), and back (null when not a number). */
export const msToSeconds = (ms) => String(Math.round(ms / 100) / 10);
export function secondsToMs(text) {
  const v = Number(String(text).trim().replace(',', '.'));
  return String(text).trim() !== '' && Number.isFinite(v) ? Math.round(v * 1000) : null;
}

/** "HH:MM" of the API's "HH:MM:SS". */
const hhmm = (time) => String(time ?? '').slice(0, 5);

/** The reader's IANA time zones (for the datalist), when the browser lists them. */
function zones() {
  try { return Intl.supportedValuesOf('timeZone'); } catch { return []; }
}

const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7];

/** Shows `message` under the form's control named `name` (a check done before asking the server). */
function localError(form, name, message) {
  fieldError(form, { code: 'invalid_input', field: name, message });
  const shown = form.querySelector('.field-error');
  if (shown) shown.textContent = message;
}

let seq = 0;
/** The kind, pattern and reply controls of a rule (`rule` when editing). */
function ruleControls(rule) {
  const id = ++seq;
  const kind = select([{ value: 'keyword', label: t('botAdmin.kind.keyword') }, { value: 'regex', label: t('botAdmin.kind.regex') }],
    rule?.match_kind ?? 'keyword', { name: 'match_kind' });
  const hint = h('span', { class: 'field-hint', id: `bot-pattern-hint-${id}` });
  const pattern = h('input', { name: 'pattern', required: true, maxlength: 1000, autocomplete: 'off', spellcheck: 'false', value: rule?.pattern ?? '', 'aria-describedby': hint.id });
  const sayHint = () => { hint.textContent = t(`botAdmin.patternHint.${kind.value}`); };
  kind.addEventListener('change', sayHint);
  sayHint();
  const reply = h('textarea', { name: 'reply', required: true, rows: 3, maxlength: 4096 }, rule?.reply ?? '');
  const controls = [field(t('botAdmin.kind'), kind),
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('botAdmin.pattern')), pattern, hint),
    field(t('botAdmin.reply'), reply)];
  return { controls, kind, pattern, reply };
}

export function mountBotAdmin(panel) {
  const st = { settings: null, rules: [], paused: [], destroyed: false, hit: null };
  const announce = h('p', { class: 'sr-only', 'aria-live': 'polite' });

  // --- settings ---
  const settingsForm = h('form', { class: 'stack bot-settings-form', novalidate: true });
  function renderSettings() {
    const s = st.settings;
    const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: s.enabled });
    const text = (name, value) => h('textarea', { name, rows: 2, maxlength: 4096 }, value ?? '');
    const days = h('fieldset', { class: 'checks bot-days' }, h('legend', { class: 'field-label' }, t('botAdmin.officeDays')),
      WEEKDAYS.map((d) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'office_days', value: String(d), checked: s.office_days.includes(d) }),
        h('span', {}, t(`botAdmin.day.${d}`)))));
    const zoneList = h('datalist', { id: 'bot-zones' }, zones().map((z) => h('option', { value: z })));
    const num = (name, value, attrs = {}) => h('input', { name, type: 'text', inputmode: 'decimal', autocomplete: 'off', value, ...attrs });
    clear(settingsForm,
      h('h3', {}, t('botAdmin.settings')),
      h('label', { class: 'check bot-enabled' }, enabled, h('span', {}, t('botAdmin.enabled'))),
      field(t('botAdmin.greeting'), text('greeting', s.greeting), t('botAdmin.greetingHint')),
      field(t('botAdmin.fallback'), text('fallback_reply', s.fallback_reply), t('botAdmin.fallbackHint')),
      h('h4', {}, t('botAdmin.officeHours')),
      days,
      h('div', { class: 'bot-row' },
        field(t('botAdmin.opens'), h('input', { type: 'time', name: 'office_open', required: true, value: hhmm(s.office_open) })),
        field(t('botAdmin.closes'), h('input', { type: 'time', name: 'office_close', required: true, value: hhmm(s.office_close) }))),
      field(t('botAdmin.timeZone'), h('input', { name: 'time_zone', required: true, autocomplete: 'off', spellcheck: 'false', list: zoneList.id, value: s.time_zone })),
      zoneList,
      field(t('botAdmin.outOfHours'), text('out_of_hours_reply', s.out_of_hours_reply), t('botAdmin.outOfHoursHint')),
      h('h4', {}, t('botAdmin.delay')),
      h('p', { class: 'muted small' }, t('botAdmin.delayHint')),
      h('div', { class: 'bot-row' },
        field(t('botAdmin.delayMin'), num('typing_min_ms', msToSeconds(s.typing_min_ms))),
        field(t('botAdmin.delayMax'), num('typing_max_ms', msToSeconds(s.typing_max_ms)))),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'pause_on_human_reply', checked: s.pause_on_human_reply }),
        h('span', {}, t('botAdmin.pauseOnHuman'))),
      field(t('botAdmin.resumeAfter'), num('resume_after_idle_secs', s.resume_after_idle_secs == null ? '' : String(Math.round(s.resume_after_idle_secs / 60)), { inputmode: 'numeric' }),
        t('botAdmin.resumeAfterHint')),
      h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary bot-settings-save', type: 'submit' }, t('common.save'))));
  }
  settingsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = settingsForm;
    const value = (name) => f.querySelector(`[name="${name}"]`).value.trim();
    const optional = (name) => value(name) || null;
    const min = secondsToMs(value('typing_min_ms'));
    const max = secondsToMs(value('typing_max_ms'));
    if (min === null) return localError(f, 'typing_min_ms', t('botAdmin.badSeconds'));
    if (max === null) return localError(f, 'typing_max_ms', t('botAdmin.badSeconds'));
    if (min > max) return localError(f, 'typing_max_ms', t('botAdmin.minOverMax'));
    let resume = null;
    if (value('resume_after_idle_secs')) {
      const minutes = Number(value('resume_after_idle_secs'));
      if (!Number.isInteger(minutes) || minutes < 1) return localError(f, 'resume_after_idle_secs', t('botAdmin.badMinutes'));
      resume = minutes * 60;
    }
    const s = st.settings;
    const body = {
      enabled: f.querySelector('[name=enabled]').checked,
      greeting: optional('greeting'),
      out_of_hours_reply: optional('out_of_hours_reply'),
      fallback_reply: optional('fallback_reply'),
      time_zone: value('time_zone'),
      office_days: [...f.querySelectorAll('[name=office_days]:checked')].map((i) => Number(i.value)),
      office_open: value('office_open'),
      office_close: value('office_close'),
      pause_on_human_reply: f.querySelector('[name=pause_on_human_reply]').checked,
      resume_after_idle_secs: resume,
      // Not on this screen: kept as they are.
      typing_base_ms: s.typing_base_ms,
      typing_ms_per_char: s.typing_ms_per_char,
      typing_jitter: s.typing_jitter,
      typing_min_ms: min,
      typing_max_ms: max,
    };
    try {
      st.settings = await put('/bot/settings', body);
      renderSettings();
      toast(t('common.saved'));
    } catch (err) {
      fieldError(f, err);
    }
  });

  // --- rules ---
  const rulesList = h('ol', { class: 'bot-rules' });
  const noRules = h('p', { class: 'muted', hidden: true }, t('botAdmin.noRules'));
  let dragFrom = null;

  function ruleItem(r, i) {
    const n = st.rules.length;
    const label = t('botAdmin.ruleN', { pos: i + 1 });
    const btn = (cls, text, onclick, attrs = {}) => h('button', { class: `btn btn-small ${cls}`, type: 'button', 'aria-label': `${text}: ${label}`, onclick, ...attrs }, text);
    const li = h('li', { class: `card bot-rule${st.hit === r.bot_rule_id ? ' bot-rule-hit' : ''}`, draggable: 'true', dataset: { id: String(r.bot_rule_id), active: String(r.active) } },
      h('div', { class: 'bot-rule-head' },
        h('span', { class: 'bot-rule-n', 'aria-hidden': 'true' }, String(i + 1)),
        h('span', { class: 'pill pill-no bot-rule-kind' }, t(`botAdmin.kind.${r.match_kind}`)),
        r.active ? null : h('span', { class: 'pill pill-no bot-rule-inactive' }, t('botAdmin.inactive')),
        st.hit === r.bot_rule_id ? h('span', { class: 'pill pill-yes' }, t('botAdmin.answers')) : null),
      h('p', { class: 'bot-rule-pattern' }, h('span', { class: 'sr-only' }, `${label}. ${t('botAdmin.pattern')}: `), h('code', {}, r.pattern)),
      h('p', { class: 'bot-rule-reply' }, h('span', { class: 'muted small' }, `${t('botAdmin.reply')}: `), r.reply),
      h('div', { class: 'row-actions bot-rule-actions' },
        btn('bot-rule-up', t('botAdmin.up'), () => move(i, i - 1, 'up'), { disabled: i === 0 }),
        btn('bot-rule-down', t('botAdmin.down'), () => move(i, i + 1, 'down'), { disabled: i === n - 1 }),
        btn('bot-rule-edit', t('common.edit'), () => edit(r)),
        btn('btn-danger bot-rule-delete', t('common.delete'), () => remove(r, i))));
    li.addEventListener('dragstart', (e) => { dragFrom = i; e.dataTransfer?.setData('text/plain', String(r.bot_rule_id)); li.classList.add('dragging'); });
    li.addEventListener('dragend', () => li.classList.remove('dragging'));
    li.addEventListener('dragover', (e) => e.preventDefault());
    li.addEventListener('drop', (e) => {
      e.preventDefault();
      if (dragFrom !== null && dragFrom !== i) move(dragFrom, i, null);
      dragFrom = null;
    });
    return li;
  }

  function renderRules() {
    noRules.hidden = st.rules.length > 0;
    clear(rulesList, st.rules.map(ruleItem));
  }

  // Saves the order with the rule at `from` moved to `to`; `focus` ('up'/'down') keeps the
  // keyboard on the moved rule's button.
  async function move(from, to, focus) {
    const ids = moveId(st.rules.map((r) => r.bot_rule_id), from, to);
    const moved = st.rules[from].bot_rule_id;
    try {
      st.rules = await put('/bot/rules/order', { bot_rule_ids: ids });
      renderRules();
      const at = st.rules.findIndex((r) => r.bot_rule_id === moved);
      announce.textContent = t('botAdmin.moved', { from: from + 1, to: at + 1 });
      if (focus) {
        const li = rulesList.querySelector(`[data-id="${moved}"]`);
        const b = li?.querySelector(`.bot-rule-${focus}:not([disabled])`) ?? li?.querySelector(`.bot-rule-${focus === 'up' ? 'down' : 'up'}`);
        b?.focus();
      }
    } catch (e) {
      showError(e);
      await loadRules();
    }
  }

  const create = ruleControls(null);
  const createForm = h('form', { class: 'stack bot-rule-create', novalidate: true },
    h('h3', {}, t('botAdmin.newRule')), create.controls,
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, t('botAdmin.addRule'))));
  createForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await post('/bot/rules', { match_kind: create.kind.value, pattern: create.pattern.value.trim(), reply: create.reply.value.trim() });
      create.pattern.value = '';
      create.reply.value = '';
      for (const el of createForm.querySelectorAll('.field-error')) el.remove();
      for (const el of createForm.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      toast(t('botAdmin.ruleAdded'));
      await loadRules();
    } catch (err) {
      fieldError(createForm, err);
    }
  });

  function edit(r) {
    const m = modal(t('botAdmin.editRule'), { wide: true });
    const c = ruleControls(r);
    const active = h('input', { type: 'checkbox', name: 'active', checked: r.active });
    const form = h('form', { class: 'stack bot-rule-edit-form', novalidate: true }, c.controls,
      h('label', { class: 'check' }, active, h('span', {}, t('botAdmin.activeLabel'))),
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      if (c.kind.value !== r.match_kind) body.match_kind = c.kind.value;
      if (c.pattern.value.trim() !== r.pattern) body.pattern = c.pattern.value.trim();
      if (c.reply.value.trim() !== r.reply) body.reply = c.reply.value.trim();
      if (active.checked !== r.active) body.active = active.checked;
      if (!Object.keys(body).length) return m.close();
      try {
        await patch(`/bot/rules/${r.bot_rule_id}`, body);
        m.close();
        toast(t('common.saved'));
        await loadRules();
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    c.pattern.focus();
  }

  async function remove(r, i) {
    if (!(await confirmDialog(t('botAdmin.confirmDelete', { pos: i + 1, pattern: r.pattern }), t('common.delete')))) return;
    try {
      await del(`/bot/rules/${r.bot_rule_id}`);
      toast(t('botAdmin.ruleDeleted'));
    } catch (e) {
      showError(e);
    }
    await loadRules();
  }

  // --- try a message ---
  const tryText = h('input', { name: 'text', required: true, maxlength: 4096, autocomplete: 'off' });
  const tryNew = h('input', { type: 'checkbox', name: 'new_conversation' });
  const tryAt = h('input', { type: 'datetime-local', name: 'at' });
  const tryResult = h('div', { class: 'bot-try-result', 'aria-live': 'polite' });
  const tryForm = h('form', { class: 'stack bot-try-form', novalidate: true },
    h('h3', {}, t('botAdmin.try')),
    h('p', { class: 'muted small' }, t('botAdmin.tryIntro')),
    field(t('botAdmin.tryText'), tryText),
    h('label', { class: 'check' }, tryNew, h('span', {}, t('botAdmin.tryNew'))),
    field(t('botAdmin.tryAt'), tryAt, t('botAdmin.tryAtHint')),
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary bot-try-run', type: 'submit' }, t('botAdmin.tryRun'))),
    tryResult);
  tryForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { text: tryText.value, new_conversation: tryNew.checked };
    if (tryAt.value) {
      const at = new Date(tryAt.value);
      if (Number.isNaN(at.getTime())) return localError(tryForm, 'at', t('botAdmin.badTime'));
      body.at = at.toISOString();
    }
    try {
      const res = await post('/bot/try', body);
      for (const el of tryForm.querySelectorAll('.field-error')) el.remove();
      for (const el of tryForm.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      showTry(res);
    } catch (err) {
      fieldError(tryForm, err);
    }
  });

  function showTry(res) {
    const i = st.rules.findIndex((r) => r.bot_rule_id === res.bot_rule_id);
    const headline = res.outcome === 'rule'
      ? t('botAdmin.outcome.rule', { pos: i + 1, pattern: st.rules[i]?.pattern ?? '' })
      : t(`botAdmin.outcome.${res.outcome}`);
    st.hit = res.outcome === 'rule' ? res.bot_rule_id : null;
    renderRules();
    clear(tryResult, h('div', { class: 'card bot-try-card', dataset: { outcome: res.outcome, rule: String(res.bot_rule_id ?? '') } },
      h('p', { class: 'strong bot-try-headline' }, headline),
      res.in_office_hours ? null : h('p', { class: 'muted small' }, t('botAdmin.outsideHours', { when: fmtDateTime(res.at) })),
      res.replies.length
        ? h('ol', { class: 'bot-try-replies' }, res.replies.map((r) => h('li', { class: 'bot-try-reply' }, r.text,
          r.handover ? h('span', { class: 'muted small' }, ` — ${t('botAdmin.handover')}`) : null)))
        : h('p', { class: 'muted' }, t('botAdmin.noReply'))));
  }

  // --- paused conversations ---
  const pausedList = h('ul', { class: 'bot-paused' });
  const noPaused = h('p', { class: 'muted', hidden: true }, t('botAdmin.noPaused'));
  function renderPaused() {
    noPaused.hidden = st.paused.length > 0;
    clear(pausedList, st.paused.map((p) => {
      const name = prospectName(p.prospect_name);
      return h('li', { class: 'bot-paused-item', dataset: { id: String(p.conversation_id) } },
        h('div', { class: 'bot-paused-who' },
          h('a', { href: `#/c/${p.conversation_id}`, class: 'bot-paused-link' }, name),
          p.prospect_phone ? h('span', { class: 'muted small' }, p.prospect_phone) : null,
          h('span', { class: 'muted small' }, t(`botAdmin.reason.${p.reason ?? 'manual'}`), ' · ', fmtDateTime(p.paused_at),
            p.resumes_at ? ` · ${t('botAdmin.resumesAt', { when: fmtDateTime(p.resumes_at) })}` : '')),
        h('button', { class: 'btn btn-small bot-resume', type: 'button', 'aria-label': `${t('botAdmin.resume')}: ${name}`, onclick: () => resume(p, name) }, t('botAdmin.resume')));
    }));
  }
  async function resume(p, name) {
    try {
      await put(`/conversations/${p.conversation_id}/bot`, { paused: false });
      toast(t('botAdmin.resumed', { name }));
    } catch (e) {
      showError(e);
    }
    await loadPaused();
  }

  async function loadRules() {
    try {
      const rules = await get('/bot/rules');
      if (st.destroyed) return;
      st.rules = rules;
      renderRules();
    } catch (e) {
      showError(e);
    }
  }
  async function loadPaused() {
    try {
      const paused = await get('/bot/paused');
      if (st.destroyed) return;
      st.paused = paused;
      renderPaused();
    } catch (e) {
      showError(e);
    }
  }

  // `data-state=ready` once settings, rules and paused conversations are in.
  async function load() {
    try {
      const [settings, rules, paused] = await Promise.all([get('/bot/settings'), get('/bot/rules'), get('/bot/paused')]);
      if (st.destroyed) return;
      Object.assign(st, { settings, rules, paused });
      renderSettings();
      renderRules();
      renderPaused();
      screen.dataset.state = 'ready';
    } catch (e) {
      showError(e);
    }
  }

  clear(panel, h('div', { class: 'bot-admin', dataset: { state: 'loading' } },
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.bot'))),
    h('p', { class: 'muted' }, t('botAdmin.intro')),
    h('div', { class: 'bot-grid' },
      h('div', { class: 'bot-side' },
        h('section', { class: 'bot-rules-section', 'aria-labelledby': 'bot-rules-title' },
          h('h3', { id: 'bot-rules-title' }, t('botAdmin.rules')),
          h('p', { class: 'muted small' }, t('botAdmin.rulesIntro')),
          rulesList, noRules, announce,
          h('div', { class: 'card' }, createForm)),
        h('section', { class: 'card bot-try', 'aria-label': t('botAdmin.try') }, tryForm),
        h('section', { class: 'card bot-paused-section', 'aria-labelledby': 'bot-paused-title' },
          h('h3', { id: 'bot-paused-title' }, t('botAdmin.pausedTitle')),
          h('p', { class: 'muted small' }, t('botAdmin.pausedIntro')),
          pausedList, noPaused)),
      h('section', { class: 'card bot-settings', 'aria-label': t('botAdmin.settings') }, settingsForm))));
  const screen = panel.firstElementChild;
  load();
  return { destroy() { st.destroyed = true; } };
}
