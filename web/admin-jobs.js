// The scheduled jobs screen (`#/admin/jobs`, a tab of admin.js, admins only): the tenant's jobs
// (`/jobs`) as cards, each with its schedule in words (cron-text.js) and its time zone, the next
// run, the last run and its result; create (a kind from `/jobs/kinds` with its default arguments),
// change schedule/zone/arguments, pause and resume, run now, delete after a confirmation, and the
// run history of a job a page at a time (`next_before`). "Add the recommended jobs" creates, in
// the reader's time zone, the recommended job of each kind (the server names them in
// `/jobs/kinds`, `recommended`) that the tenant does not have yet.
import { del, get, patch, post } from './api.js';
import { fmtDateTime, fmtNumber, getLang, t } from './i18n.js';
import { cronText } from './cron-text.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';

const HISTORY_PAGE = 20;

/** The reader's IANA time zone (what the browser says), else UTC. */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

const known = (key) => t(key) !== key;
/** A kind's title and sentence in the reader's language (the server's sentence for a kind this
 * version of the app does not know). */
function kindTitle(kind) {
  return known(`jobsAdmin.kind.${kind}`) ? t(`jobsAdmin.kind.${kind}`) : kind;
}
function kindDescription(info) {
  return known(`jobsAdmin.kindDesc.${info.name}`) ? t(`jobsAdmin.kindDesc.${info.name}`) : info.description;
}

/** "1.2 s", "350 ms". */
function duration(ms) {
  if (ms == null) return '—';
  return ms < 1000 ? `${fmtNumber(Math.round(ms))} ms` : `${fmtNumber(Math.round(ms / 100) / 10)} s`;
}

function statusPill(status) {
  const cls = { succeeded: 'pill-yes', failed: 'pill-failed', running: 'pill-no' }[status] ?? 'pill-no';
  return h('span', { class: `pill ${cls}`, dataset: { status } }, t(`jobsAdmin.status.${status}`));
}

/** The schedule in words, with the expression under it when they differ. */
function when(schedule) {
  const text = cronText(schedule, getLang());
  return h('span', { class: 'job-when' }, h('span', { class: 'job-when-text' }, text),
    text !== schedule ? h('code', { class: 'job-cron muted small' }, schedule) : null);
}

/** Shows `message` under the form's control named `name` (a check done before asking the server). */
function localError(form, name, message) {
  fieldError(form, { code: 'invalid_input', field: name, message });
  const shown = form.querySelector('.field-error');
  if (shown) shown.textContent = message;
}

/** The arguments textarea's JSON object, or null (and the error shown) when it is not one. */
function readArgs(form, textarea) {
  try {
    const v = JSON.parse(textarea.value.trim() || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch { /* said below */ }
  localError(form, 'args', t('jobsAdmin.badArgs'));
  return null;
}

let seq = 0;
/** Schedule, zone, arguments and active controls (filled from `job`), with the wording live. */
function jobControls(job) {
  const id = ++seq;
  const schedule = h('input', { name: 'schedule', required: true, autocomplete: 'off', spellcheck: 'false', value: job.schedule ?? '', 'aria-describedby': `job-words-${id}` });
  const words = h('span', { class: 'field-hint job-words', id: `job-words-${id}`, 'aria-live': 'polite' });
  const renderWords = () => { words.textContent = t('jobsAdmin.reads', { text: cronText(schedule.value, getLang()) }); };
  schedule.addEventListener('input', renderWords);
  renderWords();
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch { /* free text then */ }
  const zoneList = h('datalist', { id: `job-zones-${id}` }, zones.map((z) => h('option', { value: z })));
  const zone = h('input', { name: 'time_zone', required: true, autocomplete: 'off', spellcheck: 'false', list: zoneList.id, value: job.time_zone ?? browserZone() });
  const args = h('textarea', { name: 'args', rows: 4, spellcheck: 'false', class: 'job-args' }, JSON.stringify(job.args ?? {}, null, 2));
  const active = h('input', { type: 'checkbox', name: 'active', checked: job.active ?? true });
  const controls = [
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('jobsAdmin.schedule')), schedule, words,
      h('span', { class: 'field-hint' }, t('jobsAdmin.scheduleHint'))),
    field(t('jobsAdmin.timeZone'), zone), zoneList,
    field(t('jobsAdmin.args'), args, t('jobsAdmin.argsHint')),
    h('label', { class: 'check' }, active, h('span', {}, t('jobsAdmin.activeLabel'))),
  ];
  return { controls, schedule, zone, args, active };
}

export function mountJobsAdmin(panel) {
  const st = { jobs: [], kinds: [], last: new Map(), destroyed: false };
  const list = h('ul', { class: 'job-list' });
  const empty = h('p', { class: 'muted', hidden: true }, t('jobsAdmin.none'));
  const recommendedBtn = h('button', { class: 'btn btn-primary jobs-recommended', type: 'button', onclick: () => addRecommended() }, t('jobsAdmin.addRecommended'));
  const recommendedHint = h('p', { class: 'muted small jobs-recommended-hint' });

  const missingRecommended = () => st.kinds.filter((k) => k.recommended && !st.jobs.some((j) => j.name === k.recommended.name));

  function card(j) {
    const last = st.last.get(j.job_id);
    const name = j.name;
    const lastRun = last
      ? h('div', { class: 'job-last' }, statusPill(last.status), ' ', h('span', {}, fmtDateTime(last.started_at)),
        last.status === 'failed' && last.message ? h('p', { class: 'job-error' }, last.message) : null)
      : h('span', { class: 'muted' }, t('jobsAdmin.never'));
    const btn = (cls, label, onclick) => h('button', { class: `btn btn-small ${cls}`, type: 'button', 'aria-label': `${label}: ${name}`, onclick }, label);
    return h('li', { class: 'card job-card', dataset: { id: String(j.job_id), name, active: String(j.active) } },
      h('div', { class: 'job-head' },
        h('h3', { class: 'job-name' }, name),
        h('span', { class: `pill ${j.active ? 'pill-yes' : 'pill-no'} job-state` }, t(j.active ? 'jobsAdmin.active' : 'jobsAdmin.paused'))),
      h('p', { class: 'muted small job-kind' }, kindTitle(j.kind)),
      h('dl', { class: 'job-facts' },
        h('dt', {}, t('jobsAdmin.schedule')), h('dd', {}, when(j.schedule)),
        h('dt', {}, t('jobsAdmin.timeZone')), h('dd', { class: 'job-zone' }, j.time_zone),
        h('dt', {}, t('jobsAdmin.nextRun')), h('dd', { class: 'job-next' }, j.active && j.next_run ? fmtDateTime(j.next_run) : t('jobsAdmin.notScheduled')),
        h('dt', {}, t('jobsAdmin.lastRun')), h('dd', {}, lastRun)),
      h('div', { class: 'row-actions job-actions' },
        btn('job-run-now', t('jobsAdmin.runNow'), (e) => runNow(j, e.currentTarget)),
        btn('job-toggle', t(j.active ? 'jobsAdmin.pause' : 'jobsAdmin.resume'), () => setActive(j, !j.active)),
        btn('job-edit', t('common.edit'), () => edit(j)),
        btn('job-history', t('jobsAdmin.history'), () => history(j)),
        btn('btn-danger job-delete', t('common.delete'), () => remove(j))));
  }

  function render() {
    empty.hidden = st.jobs.length > 0;
    clear(list, st.jobs.map(card));
    const missing = missingRecommended();
    recommendedBtn.disabled = missing.length === 0;
    recommendedHint.textContent = missing.length
      ? t('jobsAdmin.recommendedHint', { n: missing.length, zone: browserZone() })
      : t('jobsAdmin.recommendedAll');
  }

  // The jobs and the last run of each, as the server has them.
  async function load() {
    try {
      const [jobs, kinds] = await Promise.all([get('/jobs'), st.kinds.length ? st.kinds : get('/jobs/kinds')]);
      const lasts = await Promise.all(jobs.map((j) => get(`/jobs/${j.job_id}/runs?limit=1`).then((p) => p.runs[0] ?? null)));
      if (st.destroyed) return;
      st.jobs = jobs;
      st.kinds = kinds;
      st.last = new Map(jobs.map((j, i) => [j.job_id, lasts[i]]));
      render();
      screen.dataset.state = 'ready';
    } catch (e) {
      showError(e);
    }
  }

  async function addRecommended() {
    const missing = missingRecommended();
    if (!missing.length) return;
    recommendedBtn.disabled = true;
    const zone = browserZone();
    let added = 0;
    try {
      for (const k of missing) {
        await post('/jobs', { name: k.recommended.name, schedule: k.recommended.schedule, time_zone: zone, kind: k.name, args: k.recommended.args });
        added++;
      }
      toast(t('jobsAdmin.recommendedAdded', { n: added }));
    } catch (e) {
      showError(e);
    }
    await load();
  }

  async function runNow(j, button) {
    button.disabled = true;
    button.textContent = t('jobsAdmin.running');
    try {
      const run = await post(`/jobs/${j.job_id}/run`);
      toast(run.status === 'succeeded' ? t('jobsAdmin.runOk', { name: j.name }) : t('jobsAdmin.runFailed', { name: j.name, message: run.message ?? '' }),
        run.status === 'succeeded' ? 'info' : 'error');
    } catch (e) {
      showError(e);
    }
    await load();
  }

  async function setActive(j, active) {
    try {
      await patch(`/jobs/${j.job_id}`, { active });
      toast(t(active ? 'jobsAdmin.resumed' : 'jobsAdmin.pausedToast', { name: j.name }));
    } catch (e) {
      showError(e);
    }
    await load();
  }

  function create() {
    const m = modal(t('jobsAdmin.new'), { wide: true });
    const kinds = st.kinds;
    const kind = select(kinds.map((k) => ({ value: k.name, label: kindTitle(k.name) })), kinds[0]?.name, { name: 'kind' });
    const description = h('p', { class: 'muted small job-kind-desc', 'aria-live': 'polite' });
    const name = h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off', spellcheck: 'false' });
    const c = jobControls({ schedule: '', time_zone: browserZone(), args: {}, active: true });
    // A kind fills in its description, default arguments and (when the server recommends one)
    // its recommended name and schedule; what the admin typed in the name is kept.
    let typedName = false;
    name.addEventListener('input', () => { typedName = true; });
    const fill = () => {
      const k = kinds.find((x) => x.name === kind.value);
      if (!k) return;
      description.textContent = kindDescription(k);
      c.args.value = JSON.stringify(k.default_args ?? {}, null, 2);
      if (!typedName) name.value = k.recommended?.name ?? k.name.replaceAll('_', '-');
      c.schedule.value = k.recommended?.schedule ?? (c.schedule.value || '0 3 * * *');
      c.schedule.dispatchEvent(new Event('input'));
    };
    kind.addEventListener('change', fill);
    const form = h('form', { class: 'stack job-create-form', novalidate: true },
      field(t('jobsAdmin.kind'), kind), description,
      field(t('jobsAdmin.name'), name, t('jobsAdmin.nameHint')),
      c.controls,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('jobsAdmin.create'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const args = readArgs(form, c.args);
      if (!args) return;
      try {
        await post('/jobs', { name: name.value.trim(), schedule: c.schedule.value.trim(), time_zone: c.zone.value.trim(), kind: kind.value, args, active: c.active.checked });
        m.close();
        toast(t('jobsAdmin.created'));
        await load();
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    fill();
    kind.focus();
  }

  function edit(j) {
    const m = modal(t('jobsAdmin.edit', { name: j.name }), { wide: true });
    const c = jobControls(j);
    const form = h('form', { class: 'stack job-edit-form', novalidate: true },
      h('p', { class: 'muted small' }, kindTitle(j.kind)),
      c.controls,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const args = readArgs(form, c.args);
      if (!args) return;
      const body = {};
      if (c.schedule.value.trim() !== j.schedule) body.schedule = c.schedule.value.trim();
      if (c.zone.value.trim() !== j.time_zone) body.time_zone = c.zone.value.trim();
      if (JSON.stringify(args) !== JSON.stringify(j.args)) body.args = args;
      if (c.active.checked !== j.active) body.active = c.active.checked;
      if (!Object.keys(body).length) return m.close();
      try {
        await patch(`/jobs/${j.job_id}`, body);
        m.close();
        toast(t('common.saved'));
        await load();
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    c.schedule.focus();
  }

  function history(j) {
    const m = modal(t('jobsAdmin.historyOf', { name: j.name }), { wide: true });
    const runs = h('ul', { class: 'job-runs' });
    const none = h('p', { class: 'muted', hidden: true }, t('jobsAdmin.noRuns'));
    const more = h('button', { class: 'btn job-runs-more', type: 'button', hidden: true }, t('jobsAdmin.olderRuns'));
    const box = h('div', { class: 'job-history', dataset: { state: 'loading' } }, runs, none, more);
    let before = null;
    const row = (r) => h('li', { class: 'job-run', dataset: { id: String(r.run_id), status: r.status } },
      h('div', { class: 'job-run-head' }, statusPill(r.status),
        h('span', { class: 'job-run-when' }, fmtDateTime(r.started_at)),
        h('span', { class: 'muted small' }, t(`jobsAdmin.trigger.${r.trigger}`)),
        h('span', { class: 'muted small job-run-duration' }, t('jobsAdmin.took', { duration: duration(r.duration_ms) }))),
      r.message ? h('p', { class: r.status === 'failed' ? 'job-error' : 'small' }, r.message) : null);
    async function page() {
      more.disabled = true;
      try {
        const p = await get(`/jobs/${j.job_id}/runs?limit=${HISTORY_PAGE}${before ? `&before=${before}` : ''}`);
        runs.append(...p.runs.map(row));
        before = p.next_before ?? null;
        more.hidden = before === null;
        none.hidden = runs.childElementCount > 0;
        box.dataset.state = before === null ? 'end' : 'more';
      } catch (e) {
        showError(e);
      }
      more.disabled = false;
    }
    more.addEventListener('click', page);
    m.body.append(box);
    page();
  }

  async function remove(j) {
    if (!(await confirmDialog(t('jobsAdmin.confirmDelete', { name: j.name }), t('common.delete')))) return;
    try {
      await del(`/jobs/${j.job_id}`);
      toast(t('jobsAdmin.deleted', { name: j.name }));
    } catch (e) {
      showError(e);
    }
    await load();
  }

  // `data-state=ready` once the list is in.
  clear(panel, h('div', { class: 'jobs-admin', dataset: { state: 'loading' } },
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.jobs')),
      h('button', { class: 'btn job-new', type: 'button', onclick: () => create() }, t('jobsAdmin.new'))),
    h('p', { class: 'muted' }, t('jobsAdmin.intro')),
    h('div', { class: 'card jobs-recommended-card' }, recommendedBtn, recommendedHint),
    list,
    empty));
  const screen = panel.firstElementChild;
  load();
  return { destroy() { st.destroyed = true; } };
}
