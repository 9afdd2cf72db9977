// WhatsApp campaigns (admins and coordinators). `#/campaigns`: the campaigns the user sees (an
// admin all, a coordinator her own) with status and progress, and "New campaign" (name, an
// approved template and its parameters, a segment by filter or by prospect ids, now or later).
// `#/campaigns/<id>`: live progress (counts and a bar), pause / resume / cancel, and the
// recipients with their delivery status, a page at a time.
//
// Live: `table:campaigns` (status changes and the dispatcher's progress snapshots) makes the
// screens refetch the campaign (its progress counted afresh by the server). Delivery statuses keep
// changing after the last snapshot, so while a campaign has messages on their way the detail
// screen also follows the outbound system messages' updates (`table:messages`, filtered) and
// refetches (see refetcher in live.js).
import { get, post, query } from './api.js';
import { failureReason, fmtDateTime, fmtNumber, fmtShort, t } from './i18n.js';
import { liveClient, refetcher } from './live.js';
import { can } from './capabilities.js';
import { executives, myTeams, teamName, userName } from './directory.js';
import { navigate } from './router.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';

const COUNTS = ['pending', 'queued', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled'];
const STAGES = ['new', 'contacted', 'interested', 'negotiating', 'won', 'lost'];
const PAGE = 50; // recipients per page
const LIST_DETAILS = 25; // campaigns of the list whose progress is fetched

function statusPill(s) {
  return h('span', { class: `pill c-status c-${s}`, dataset: { status: s } }, t(`campaigns.status.${s}`));
}

/** Recipients with nothing left to do: not pending, not waiting in the outbox. */
const settled = (p) => p.total - p.pending - p.queued;
/** Recipients whose message went to WhatsApp (accepted, delivered, read, or refused/failed). */
const processed = (p) => p.sent + p.delivered + p.read + p.failed;

/** A progress bar of the total: delivered/read, sent, queued, failed, withdrawn or skipped. */
function progressBar(p) {
  const pct = (n) => (p.total ? `${(100 * n) / p.total}%` : '0%');
  const done = processed(p);
  return h('div', {
    class: 'cbar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(p.total), 'aria-valuenow': String(done),
    'aria-label': t('campaigns.progressOf', { done, total: p.total }),
  },
  h('span', { class: 'cbar-seg seg-read', style: `width:${pct(p.delivered + p.read)}` }),
  h('span', { class: 'cbar-seg seg-sent', style: `width:${pct(p.sent)}` }),
  h('span', { class: 'cbar-seg seg-queued', style: `width:${pct(p.queued)}` }),
  h('span', { class: 'cbar-seg seg-failed', style: `width:${pct(p.failed)}` }),
  h('span', { class: 'cbar-seg seg-withdrawn', style: `width:${pct(p.skipped + p.cancelled)}` }));
}

const percent = (p) => (p.total ? Math.floor((100 * processed(p)) / p.total) : 0);

/** Mounts the campaigns screens (`id`: one campaign, else the list); returns destroy. */
export function mountCampaigns(view, id) {
  return id ? mountCampaign(view, id) : mountList(view);
}

// --- the list ---
function mountList(view) {
  const list = h('div', { class: 'campaign-list-wrap' });
  const root = h('section', { class: 'page campaigns', 'aria-labelledby': 'campaigns-title' },
    h('div', { class: 'page-head' },
      h('h1', { id: 'campaigns-title' }, t('campaigns.title')),
      h('button', { class: 'btn btn-primary', type: 'button', onclick: () => newCampaign() }, t('campaigns.new'))),
    list);
  clear(view, root);
  document.title = `${t('campaigns.title')} · ${t('app.name')}`;
  let alive = true;
  const rows = new Map(); // campaign_id -> { campaign, el }

  function progressCell(v) {
    if (!v?.progress) return h('span', { class: 'muted' }, '…');
    const p = v.progress;
    return h('div', { class: 'cprog' }, progressBar(p),
      h('span', { class: 'cprog-text' }, t('campaigns.progressShort', { done: processed(p), total: p.total, pct: percent(p) })));
  }

  function row(c, v) {
    const when = c.finished_at ?? c.started_at ?? c.scheduled_at;
    return h('li', { class: 'campaign-item', dataset: { id: c.campaign_id, status: c.status } },
      h('a', { class: 'campaign-row', href: `#/campaigns/${c.campaign_id}` },
        h('span', { class: 'campaign-name' }, c.name),
        h('span', { class: 'campaign-pills' }, statusPill(c.status)),
        h('span', { class: 'campaign-meta muted' }, c.template_name, ' · ', userName(c.created_by), ' · ',
          h('span', { title: fmtDateTime(when) }, fmtShort(when))),
        h('span', { class: 'campaign-progress' }, progressCell(v))));
  }

  function put(c, v) {
    const old = rows.get(c.campaign_id);
    const el = row(c, v);
    if (old?.el.isConnected) old.el.replaceWith(el);
    rows.set(c.campaign_id, { campaign: c, el });
    return el;
  }

  async function detail(idOf) {
    try {
      const v = await get(`/campaigns/${idOf}`);
      if (alive) put(v, v);
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }

  async function load() {
    const all = await get('/campaigns');
    if (!alive) return;
    rows.clear();
    clear(list, all.length
      ? h('ul', { class: 'campaign-list' }, all.map((c) => put(c, null)))
      : h('p', { class: 'empty' }, t('campaigns.empty')));
    root.dataset.state = 'ready';
    root.dataset.count = String(all.length);
    // Progress is counted per campaign: the newest ones, a few requests at a time.
    const ids = all.slice(0, LIST_DETAILS).map((c) => c.campaign_id);
    for (let i = 0; i < ids.length; i += 4) await Promise.all(ids.slice(i, i + 4).map((x) => detail(x).catch(() => {})));
  }

  const reload = refetcher(() => load().catch(showError));
  const changed = new Map(); // campaign_id -> when its last event came
  const refreshSome = refetcher(() => {
    for (const x of changed.keys()) {
      if (rows.has(x)) detail(x).catch(() => {});
      else reload();
    }
    changed.clear();
  }, 300);
  const client = liveClient();
  const unsub = client?.subscribe('table:campaigns', {
    onSubscribed: reload,
    onReset: reload,
    onEvent: (e) => {
      const x = e.row?.campaign_id;
      if (x == null || e.op !== 'update') reload();
      else {
        changed.set(x, Date.now());
        refreshSome();
      }
    },
  });
  if (!unsub) load().catch(showError);
  return {
    destroy() {
      alive = false;
      reload.cancel();
      refreshSome.cancel();
      unsub?.();
    },
  };
}

// --- new campaign ---
async function newCampaign() {
  let templates;
  let channels = null;
  try {
    templates = (await get('/templates')).filter((x) => x.status === 'approved');
    if (can('administer')) channels = await get('/channels');
  } catch (e) {
    showError(e);
    return;
  }
  const m = modal(t('campaigns.new'), { wide: true });
  if (!templates.length) {
    m.body.append(h('p', {}, t('campaigns.noTemplates')),
      can('administer') ? h('p', {}, h('a', { href: '#/admin/templates', class: 'templates-link', onclick: () => m.close() }, t('campaigns.manageTemplates'))) : null,
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.close'))));
    return;
  }
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const template = select(templates.map((x, i) => ({ value: i, label: `${x.name} (${x.language})` })), 0, { name: 'template.name' });
  const params = h('div', { class: 'param-list' });
  const preview = h('p', { class: 'template-preview' });
  const channel = channels?.length
    ? select(channels.map((c) => ({ value: c.channel_account_id, label: `${c.display_name} · ${c.phone_number_id}` })), channels[0].channel_account_id, { name: 'channel_account_id' })
    : null;

  const chosen = () => templates[Number(template.value)];
  const paramInputs = () => [...params.querySelectorAll('input')];
  function renderParams() {
    const x = chosen();
    clear(params, Array.from({ length: x.params }, (_, i) => field(t('campaigns.param', { n: i + 1 }),
      h('input', { name: 'template.parameters', dataset: { index: i }, value: i === 0 ? '{first_name}' : '', oninput: renderPreview }))));
    renderPreview();
  }
  function renderPreview() {
    const values = paramInputs().map((i) => i.value.replaceAll('{first_name}', 'Ana').replaceAll('{name}', 'Ana López'));
    preview.textContent = chosen().body.replace(/\{\{(\d+)\}\}/g, (all, n) => values[Number(n) - 1] || all);
  }
  template.addEventListener('change', renderParams);

  // Segment: a filter (team, executive, stage, name) or a list of prospect ids.
  const segFilter = h('input', { type: 'radio', name: 'segment', value: 'filter', checked: true });
  const segList = h('input', { type: 'radio', name: 'segment', value: 'list' });
  // A coordinator reaches her teams' prospects only: she chooses among those.
  const teams = myTeams();
  const team = teams.length > 1
    ? select([{ value: '', label: t('inbox.allTeams') }, ...teams.map((x) => ({ value: x.team_id, label: x.name }))], '', { name: 'filter.team_id' })
    : null;
  const exec = select([{ value: '', label: t('inbox.allExecutives') }, ...executives().map((u) => ({ value: u.user_id, label: u.display_name }))], '', { name: 'filter.executive_id' });
  const stage = select([{ value: '', label: t('campaigns.anyStage') }, ...STAGES.map((s) => ({ value: s, label: t(`stage.${s}`) }))], '', { name: 'filter.stage' });
  const q = h('input', { name: 'filter.q', placeholder: t('inbox.search'), autocomplete: 'off' });
  const filterBox = h('div', { class: 'seg-filter' },
    team ? field(t('prospect.team'), team) : null, field(t('prospect.executive'), exec), field(t('prospect.stage'), stage),
    field(t('campaigns.nameSearch'), q));
  const ids = h('textarea', { name: 'prospect_ids', rows: 3, placeholder: '1201, 1202, 1203' });
  const listBox = h('div', { class: 'seg-list', hidden: true }, field(t('campaigns.prospectIds'), ids, t('campaigns.prospectIdsHint')));
  const syncSegment = () => {
    filterBox.hidden = !segFilter.checked;
    listBox.hidden = !segList.checked;
  };
  segFilter.addEventListener('change', syncSegment);
  segList.addEventListener('change', syncSegment);

  // When: now or later.
  const now = h('input', { type: 'radio', name: 'when', value: 'now', checked: true });
  const later = h('input', { type: 'radio', name: 'when', value: 'later' });
  const at = h('input', { type: 'datetime-local', name: 'scheduled_at', disabled: true });
  const syncWhen = () => { at.disabled = !later.checked; };
  now.addEventListener('change', syncWhen);
  later.addEventListener('change', syncWhen);
  // Pace: a large send can go out gradually.
  const pace = h('input', { type: 'number', name: 'max_per_minute', min: 1, max: 100000, step: 1, inputmode: 'numeric', placeholder: t('campaigns.throttleNone') });

  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, t('campaigns.review'));
  const form = h('form', { class: 'stack campaign-form', novalidate: true },
    field(t('campaigns.name'), name),
    channel ? field(t('campaigns.channel'), channel) : null,
    field(t('campaigns.template'), template,
      can('administer') ? h('a', { href: '#/admin/templates', class: 'templates-link', onclick: () => m.close() }, t('campaigns.manageTemplates')) : null),
    params,
    h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('campaigns.preview')), preview,
      h('span', { class: 'field-hint' }, t('campaigns.paramHint'))),
    h('fieldset', { class: 'choice' }, h('legend', {}, t('campaigns.segment')),
      h('div', { class: 'choice-row' },
        h('label', { class: 'check' }, segFilter, h('span', {}, t('campaigns.byFilter'))),
        h('label', { class: 'check' }, segList, h('span', {}, t('campaigns.byList')))),
      filterBox, listBox),
    h('fieldset', { class: 'choice' }, h('legend', {}, t('campaigns.when')),
      h('div', { class: 'choice-row' },
        h('label', { class: 'check' }, now, h('span', {}, t('campaigns.now'))),
        h('label', { class: 'check' }, later, h('span', {}, t('campaigns.later'))),
        at)),
    field(t('campaigns.throttle'), pace, t('campaigns.throttleHint')),
    h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')), submit));
  renderParams();
  // The confirm step: the exact count and a summary, then "Send to N".
  const confirmBox = h('div', { class: 'campaign-confirm', hidden: true });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const x = chosen();
    const body = {
      name: name.value,
      template: { name: x.name, language: x.language, parameters: paramInputs().map((i) => i.value) },
    };
    if (channel) body.channel_account_id = Number(channel.value);
    if (segList.checked) {
      const list = ids.value.split(/[\s,;]+/).filter(Boolean);
      if (!list.every((v) => /^\d+$/.test(v))) {
        fieldError(form, { field: 'prospect_ids', message: t('campaigns.badIds') });
        return;
      }
      body.prospect_ids = list.map(Number);
    } else {
      const f = {};
      if (team?.value) f.team_id = Number(team.value);
      if (exec.value) f.executive_id = Number(exec.value);
      if (stage.value) f.stage = stage.value;
      if (q.value.trim()) f.q = q.value.trim();
      body.filter = f;
    }
    if (later.checked) {
      const when = at.value ? new Date(at.value) : null;
      if (!when || Number.isNaN(when.getTime())) {
        fieldError(form, { field: 'scheduled_at', message: t('campaigns.needTime') });
        return;
      }
      body.scheduled_at = when.toISOString();
    }
    if (pace.value.trim()) {
      const n = Number(pace.value);
      if (!Number.isInteger(n) || n < 1 || n > 100000) {
        fieldError(form, { field: 'max_per_minute', message: t('campaigns.badThrottle') });
        return;
      }
      body.max_per_minute = n;
    }
    submit.disabled = true;
    try {
      const preview = await post('/campaigns/preview', body);
      showConfirm(body, preview);
    } catch (err) {
      formError(err);
    } finally {
      submit.disabled = false;
    }
  });

  function formError(err) {
    // "No prospect matches" names the segment: point at what the user filled in for it.
    if (err.field === 'segment') err.field = segList.checked ? 'prospect_ids' : 'filter.q';
    fieldError(form, err);
  }

  // The segment in words, as the dialog's choices read.
  function segmentWords(body) {
    if (body.prospect_ids) return t('campaigns.sum.list', { n: new Set(body.prospect_ids).size });
    const f = body.filter ?? {};
    const parts = [];
    if (f.team_id) parts.push(t('campaigns.sum.team', { name: teamName(f.team_id) }));
    if (f.executive_id) parts.push(t('campaigns.sum.executive', { name: userName(f.executive_id) }));
    if (f.stage) parts.push(t('campaigns.sum.stage', { stage: t(`stage.${f.stage}`) }));
    if (f.q) parts.push(t('campaigns.sum.q', { q: f.q }));
    return parts.length ? t('campaigns.sum.filtered', { what: parts.join(', ') }) : t('campaigns.sum.everyone');
  }

  function showConfirm(body, p) {
    const later = Boolean(body.scheduled_at);
    const n = p.recipients;
    const excluded = [
      p.excluded.opted_out ? t('campaigns.sum.optedOut', { n: p.excluded.opted_out }) : null,
      p.excluded.duplicates ? t('campaigns.sum.duplicates', { n: p.excluded.duplicates }) : null,
    ].filter(Boolean);
    const chan = channels?.find((c) => c.channel_account_id === p.channel_account_id);
    const row = (k, label, ...value) => [h('dt', {}, label), h('dd', { dataset: { sum: k } }, ...value)];
    const send = h('button', { class: 'btn btn-primary', type: 'button', name: 'confirm', disabled: n === 0 },
      t(later ? 'campaigns.scheduleFor' : 'campaigns.sendTo', { n }));
    const back = h('button', { class: 'btn', type: 'button', name: 'back' }, t('campaigns.back'));
    clear(confirmBox,
      h('h3', { class: 'confirm-title', tabindex: '-1' }, t('campaigns.confirmTitle')),
      h('p', { class: 'confirm-count', dataset: { count: n } }, h('strong', {}, t('campaigns.recipientsWord', { n }))),
      n === 0 ? h('p', { class: 'field-error', role: 'alert' }, t('campaigns.nobody')) : null,
      h('dl', { class: 'facts campaign-summary' },
        row('template', t('campaigns.template'), `${p.template_name} (${p.template_language})`),
        row('sample', t('campaigns.preview'), h('span', { class: 'confirm-sample' }, p.sample)),
        chan ? row('channel', t('campaigns.channel'), `${chan.display_name} · ${chan.phone_number_id}`) : [],
        row('segment', t('campaigns.segment'), segmentWords(body)),
        row('matched', t('campaigns.sum.matched'), fmtNumber(p.matched)),
        row('excluded', t('campaigns.sum.excluded'), excluded.length ? excluded.join(' · ') : t('campaigns.sum.noneExcluded')),
        row('when', t('campaigns.when'), later ? fmtDateTime(body.scheduled_at) : t('campaigns.sum.now')),
        row('pace', t('campaigns.sum.pace'), body.max_per_minute ? t('campaigns.sum.perMinute', { n: body.max_per_minute }) : t('campaigns.sum.fullSpeed'))),
      h('div', { class: 'actions' }, back, send));
    form.hidden = true;
    confirmBox.hidden = false;
    confirmBox.dataset.count = String(n);
    confirmBox.querySelector('.confirm-title').focus();
    back.addEventListener('click', () => {
      confirmBox.hidden = true;
      form.hidden = false;
      submit.focus();
    });
    send.addEventListener('click', async () => {
      send.disabled = true;
      back.disabled = true;
      try {
        const created = await post('/campaigns', { ...body, confirm_count: n });
        m.close();
        toast(t('campaigns.created', { n: created.progress.total }));
        navigate(`#/campaigns/${created.campaign_id}`);
      } catch (err) {
        back.disabled = false;
        if (err.code === 'recipients_changed') {
          // The segment moved since the count: show the new one to confirm again.
          showError(err);
          post('/campaigns/preview', body).then((fresh) => showConfirm(body, fresh), (e2) => { back.click(); formError(e2); });
          return;
        }
        back.click();
        formError(err);
      }
    });
  }
  m.body.append(form, confirmBox);
  name.focus();
}

// --- one campaign ---
function mountCampaign(view, id) {
  const head = h('div', { class: 'campaign-head' });
  const progress = h('div', { class: 'campaign-progress-box card' });
  const recipientsBox = h('div', { class: 'recipients' });
  const root = h('section', { class: 'page campaign', dataset: { id } },
    h('nav', { class: 'crumbs' }, h('a', { class: 'back-link', href: '#/campaigns' }, `← ${t('campaigns.all')}`)), head, progress,
    h('h2', {}, t('campaigns.recipients')), recipientsBox);
  clear(view, root);
  let alive = true;
  let current = null;
  let pages = [null]; // the `after` cursor of each page
  let page = 0;

  function control(action) {
    return async () => {
      if (action === 'cancel' && !(await confirmDialog(t('campaigns.cancelConfirm', { name: current.name }), t('campaigns.cancel')))) return;
      try {
        render(await post(`/campaigns/${id}/${action}`));
        toast(t(`campaigns.done.${action}`));
      } catch (e) {
        showError(e);
      }
    };
  }

  function render(v) {
    current = v;
    const c = v;
    const p = v.progress;
    document.title = `${c.name} · ${t('app.name')}`;
    const canPause = c.status === 'scheduled' || c.status === 'running';
    const canResume = c.status === 'paused';
    const canCancel = canPause || canResume;
    clear(head,
      h('div', { class: 'page-head' },
        h('div', {}, h('h1', {}, c.name, ' ', statusPill(c.status))),
        h('div', { class: 'campaign-actions' },
          canPause ? h('button', { class: 'btn', type: 'button', name: 'pause', onclick: control('pause') }, t('campaigns.pause')) : null,
          canResume ? h('button', { class: 'btn btn-primary', type: 'button', name: 'resume', onclick: control('resume') }, t('campaigns.resume')) : null,
          canCancel ? h('button', { class: 'btn btn-danger', type: 'button', name: 'cancel', onclick: control('cancel') }, t('campaigns.cancel')) : null)),
      h('dl', { class: 'facts campaign-facts' },
        h('dt', {}, t('campaigns.template')), h('dd', {}, `${c.template_name} (${c.template_language})`),
        h('dt', {}, t('campaigns.parameters')), h('dd', {}, (c.parameters ?? []).join(' · ') || t('common.none')),
        h('dt', {}, t('campaigns.createdBy')), h('dd', {}, userName(c.created_by)),
        h('dt', {}, t('campaigns.scheduledAt')), h('dd', {}, fmtDateTime(c.scheduled_at)),
        c.max_per_minute ? [h('dt', {}, t('campaigns.sum.pace')), h('dd', { class: 'campaign-pace' }, t('campaigns.sum.perMinute', { n: c.max_per_minute }))] : null,
        c.started_at ? [h('dt', {}, t('campaigns.startedAt')), h('dd', {}, fmtDateTime(c.started_at))] : null,
        c.finished_at ? [h('dt', {}, t('campaigns.finishedAt')), h('dd', {}, fmtDateTime(c.finished_at))] : null));
    clear(progress,
      h('div', { class: 'progress-head' },
        h('strong', { class: 'progress-pct' }, `${percent(p)}%`),
        h('span', { class: 'muted' }, t('campaigns.progressOf', { done: processed(p), total: p.total }))),
      progressBar(p),
      h('ul', { class: 'call-counts campaign-counts' },
        h('li', { class: 'call-count', dataset: { count: 'total' } }, h('span', { class: 'n' }, fmtNumber(p.total)), h('span', { class: 'label' }, t('campaigns.total'))),
        COUNTS.filter((k) => p[k] > 0 || ['queued', 'sent', 'delivered', 'read', 'failed'].includes(k)).map((k) =>
          h('li', { class: `call-count k-${k}`, dataset: { count: k } }, h('span', { class: 'n' }, fmtNumber(p[k])), h('span', { class: 'label' }, t(`campaigns.count.${k}`))))));
    root.dataset.state = 'ready';
    root.dataset.status = c.status;
    root.dataset.settled = String(settled(p));
    root.dataset.total = String(p.total);
    followMessages(p);
  }

  let seq = 0; // only the newest read is shown (answers may come back out of order)
  async function load() {
    const mine = ++seq;
    try {
      const v = await get(`/campaigns/${id}`);
      if (alive && mine === seq) render(v);
    } catch (e) {
      if (!alive || mine !== seq) return;
      if (e.status === 404) {
        clear(head, h('p', { class: 'empty' }, t('campaigns.notFound')));
        progress.hidden = true;
        root.dataset.state = 'missing';
        return;
      }
      throw e;
    }
  }

  let recipientsSeq = 0;
  async function loadRecipients() {
    const mine = ++recipientsSeq;
    const rows = await get(`/campaigns/${id}/recipients${query({ after: pages[page], limit: PAGE })}`);
    if (!alive || mine !== recipientsSeq) return;
    if (rows.length === PAGE) pages[page + 1] = rows[rows.length - 1].prospect_id;
    else pages = pages.slice(0, page + 1);
    const label = (r) => (r.state === 'queued' ? r.status ?? 'failed' : r.state);
    clear(recipientsBox,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table recipients-table' },
        h('thead', {}, h('tr', {}, [t('campaigns.prospect'), t('campaigns.deliveryStatus'), t('campaigns.error')].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, rows.length ? rows.map((r) => h('tr', { dataset: { id: r.prospect_id, status: label(r) } },
          h('td', {}, r.prospect_name ?? t('campaigns.hiddenProspect'), h('span', { class: 'muted small' }, ` #${r.prospect_id}`)),
          h('td', {}, h('span', { class: `pill r-${label(r)}` }, t(`campaigns.count.${label(r)}`))),
          h('td', { class: 'muted small' }, r.message_error && r.status === 'failed' ? [
            h('span', { class: 'recipient-error', title: r.message_error.detail ?? r.message_error.title ?? '' }, failureReason(r.message_error)),
            r.message_error.retryable ? h('button', { class: 'btn btn-small msg-retry', type: 'button', onclick: (ev) => retryRecipient(r, ev.currentTarget) }, t('conv.retry')) : null,
          ] : r.error ?? '')))
          : h('tr', {}, h('td', { colspan: '3', class: 'muted' }, t('campaigns.noRecipients')))))),
      h('div', { class: 'pager' },
        h('button', { class: 'btn btn-small', type: 'button', name: 'prev', disabled: page === 0, onclick: () => { page -= 1; loadRecipients().catch(showError); } }, t('campaigns.prev')),
        h('span', { class: 'muted small' }, t('campaigns.page', { n: page + 1 })),
        h('button', { class: 'btn btn-small', type: 'button', name: 'next', disabled: pages[page + 1] == null, onclick: () => { page += 1; loadRecipients().catch(showError); } }, t('campaigns.next'))));
    recipientsBox.dataset.page = String(page + 1);
  }

  async function retryRecipient(r, btn) {
    btn.disabled = true;
    try {
      await post(`/messages/${r.message_id}/retry`);
      await loadRecipients();
    } catch (e) {
      btn.disabled = false;
      showError(e);
    }
  }

  // Recipients are read after the progress, never before: a table older than the counts would
  // stay behind once the counts settle and the status updates stop being followed.
  const refresh = refetcher(() => {
    load().catch(showError).then(() => loadRecipients()).catch(() => {});
  }, 400);

  // While messages of this campaign are on their way, follow outbound system messages' status.
  let unsubMessages = null;
  function followMessages(p) {
    const moving = p.pending + p.queued + p.sent > 0 && current.status !== 'cancelled';
    const client = liveClient();
    if (moving && !unsubMessages && client) {
      unsubMessages = client.subscribe('table:messages', {
        filters: { direction: 'eq.out', sender_kind: 'eq.system' },
        events: ['update'],
        onEvent: refresh,
        onReset: refresh,
      });
    } else if (!moving && unsubMessages) {
      unsubMessages();
      unsubMessages = null;
    }
  }

  const client = liveClient();
  const unsub = client?.subscribe('table:campaigns', {
    filters: { campaign_id: `eq.${id}` },
    onSubscribed: refresh,
    onEvent: refresh,
    onReset: refresh,
  });
  if (!unsub) refresh();
  return {
    destroy() {
      alive = false;
      refresh.cancel();
      unsub?.();
      unsubMessages?.();
    },
  };
}
