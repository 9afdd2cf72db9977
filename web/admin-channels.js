// The WhatsApp channels screen (`#/admin/channels`, a tab of admin.js, admins only): the tenant's
// numbers (`/channels`) as cards, each with its live health (`/channels/health`: last webhook
// received, last error with its code, messages sent and failed today, and what the last
// connection test learnt from Graph: display number, verified name, quality rating, messaging
// limit); add and edit a Cloud API number (secrets are write-only: the form says "set" and offers
// to replace them, never shows them); "Test connection" (`POST /channels/{id}/test`) with Graph's
// answer or its error worded in the reader's language; the webhook URL and a verify token to paste
// into Meta's console, each with a copy button; and each number's WhatsApp error log.
//
// Live: the screen subscribes to `table:channel_health` on the WebSocket (admins only): a test, a
// webhook or a reported error changes the number's row, and the screen reads `/channels/health`
// again (one read per burst). Sent/failed counts are computed from the outbox when read, so they
// also refresh on that event and every minute while the tab is open (a send writes no health row).
import { del, get, patch, post } from './api.js';
import { channelEventReason, fmtDateTime, fmtNumber, fmtRelative, t } from './i18n.js';
import { liveClient, refetcher } from './live.js';
import { loadDirectory, teamList, teamName } from './directory.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';
import { limitWords, localMidnight, newVerifyToken, qualityWords, sessionWords, testFailureText } from './channel-words.js';

const WEBHOOK_PATH = '/api/v1/whatsapp/webhook';
const COUNTS_EVERY_MS = 60_000;
let seq = 0;

/** Copies `text`; says so (or that it could not). */
async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('channelsAdmin.copied', { what }));
  } catch {
    // No clipboard permission: the text is selected for the reader to copy.
    toast(t('channelsAdmin.copyFailed'), 'error');
  }
}

/** A read-only value with a copy button (labelled for screen readers). */
function copyRow(label, value, cls) {
  const input = h('input', { class: `copy-value ${cls}`, readonly: true, value, 'aria-label': label, spellcheck: 'false' });
  input.addEventListener('focus', () => input.select());
  return h('div', { class: 'copy-row' },
    h('span', { class: 'field-label' }, label),
    h('div', { class: 'copy-line' }, input,
      h('button', { class: `btn copy-btn ${cls}-copy`, type: 'button', 'aria-label': t('channelsAdmin.copyWhat', { what: label }),
        onclick: () => { input.select(); copy(value, label); } }, t('channelsAdmin.copy'))));
}

export function mountChannelsAdmin(panel) {
  const st = { channels: [], health: new Map(), webhookUrl: null, tests: new Map(), destroyed: false };
  const list = h('ul', { class: 'channel-list' });
  const empty = h('p', { class: 'muted', hidden: true }, t('admin.noChannels'));
  const webhookBox = h('div', { class: 'card channel-webhook' });

  const webhookUrl = () => st.webhookUrl ?? `${location.origin}${WEBHOOK_PATH}`;

  function renderWebhook() {
    clear(webhookBox,
      h('h3', {}, t('channelsAdmin.metaTitle')),
      h('p', { class: 'muted small' }, t('channelsAdmin.metaIntro')),
      copyRow(t('channelsAdmin.webhookUrl'), webhookUrl(), 'webhook-url'),
      st.webhookUrl ? null : h('p', { class: 'muted small webhook-url-hint' }, t('channelsAdmin.webhookUrlGuess')),
      h('p', { class: 'muted small' }, t('channelsAdmin.verifyTokenHint')));
  }

  function fact(label, value, cls) {
    return [h('dt', {}, label), h('dd', { class: cls }, value)];
  }

  function healthFacts(c) {
    const x = st.health.get(c.channel_account_id) ?? {};
    const q = qualityWords(x.quality_rating);
    const lastError = x.last_error_at
      ? h('span', {}, h('span', { class: 'channel-error-text' }, channelEventReason({ code: x.last_error_code })),
        x.last_error_code != null ? h('span', { class: 'muted small' }, ` · ${t('error.code', { code: String(x.last_error_code) })}`) : null,
        h('span', { class: 'muted small' }, ` · ${fmtDateTime(x.last_error_at)}`),
        x.last_error_message ? h('span', { class: 'muted small channel-error-detail' }, x.last_error_message) : null)
      : h('span', { class: 'muted' }, t('channelsAdmin.noErrors'));
    const check = x.checked_at
      ? h('span', {}, h('span', { class: `pill ${x.check_ok ? 'pill-yes' : 'pill-failed'}` }, t(x.check_ok ? 'channelsAdmin.connected' : 'channelsAdmin.notConnected')),
        ' ', h('span', { class: 'muted small' }, fmtDateTime(x.checked_at)))
      : h('span', { class: 'muted' }, t('channelsAdmin.neverTested'));
    return h('dl', { class: 'job-facts channel-health', dataset: { webhook: x.last_webhook_at ? 'yes' : 'no', errorCode: String(x.last_error_code ?? '') } },
      c.kind === 'session'
        ? fact(t('channelsAdmin.session'), sessionWords(c.session_state), 'channel-session')
        : fact(t('channelsAdmin.connection'), check, 'channel-check'),
      x.verified_name || x.display_phone_number
        ? fact(t('channelsAdmin.graphSays'), [x.verified_name ?? '', x.verified_name && x.display_phone_number ? ' · ' : '', x.display_phone_number ?? ''].join(''), 'channel-graph-name')
        : null,
      fact(t('channelsAdmin.quality'), q ? h('span', { class: `pill ${q.cls}` }, q.text) : h('span', { class: 'muted' }, t('channelsAdmin.unknownYet')), 'channel-quality'),
      fact(t('channelsAdmin.limit'), limitWords(x.messaging_limit) ?? h('span', { class: 'muted' }, t('channelsAdmin.unknownYet')), 'channel-limit'),
      fact(t('channelsAdmin.lastWebhook'), x.last_webhook_at
        ? h('time', { datetime: x.last_webhook_at, title: fmtDateTime(x.last_webhook_at) }, fmtRelative(x.last_webhook_at))
        : h('span', { class: 'muted' }, t('channelsAdmin.noWebhookYet')), 'channel-last-webhook'),
      fact(t('channelsAdmin.lastError'), lastError, 'channel-last-error'),
      fact(t('channelsAdmin.today'), t('channelsAdmin.sentFailed', { sent: fmtNumber(x.sent ?? 0), failed: fmtNumber(x.failed ?? 0) }), 'channel-today'));
  }

  function testResult(c) {
    const r = st.tests.get(c.channel_account_id);
    const box = h('div', { class: 'channel-test-result', role: 'status', 'aria-live': 'polite' });
    if (!r) return box;
    if (r.running) {
      box.append(h('p', { class: 'muted' }, t('channelsAdmin.testing')));
    } else if (r.ok) {
      const n = r.number ?? {};
      const q = qualityWords(n.quality_rating);
      box.dataset.ok = 'true';
      box.append(h('p', { class: 'channel-test-ok' }, t('channelsAdmin.testOk')),
        h('dl', { class: 'job-facts' },
          fact(t('channelsAdmin.displayNumber'), n.display_phone_number ?? '—', 'test-display'),
          fact(t('channelsAdmin.verifiedName'), n.verified_name ?? '—', 'test-verified'),
          fact(t('channelsAdmin.quality'), q ? h('span', { class: `pill ${q.cls}` }, q.text) : '—', 'test-quality'),
          fact(t('channelsAdmin.limit'), limitWords(n.messaging_limit) ?? '—', 'test-limit')));
    } else {
      box.dataset.ok = 'false';
      box.append(h('p', { class: 'job-error channel-test-error' }, testFailureText(r.error)),
        h('p', { class: 'muted small channel-test-graph' }, [
          r.error?.graph_code != null ? t('channelsAdmin.graphCode', { code: String(r.error.graph_code) }) : null,
          r.error?.http_status != null ? `HTTP ${r.error.http_status}` : null,
          r.error?.message ?? null,
        ].filter(Boolean).join(' · ')));
    }
    return box;
  }

  function card(c) {
    const btn = (cls, label, onclick) => h('button', { class: `btn btn-small ${cls}`, type: 'button', 'aria-label': `${label}: ${c.display_name}`, onclick }, label);
    return h('li', { class: 'card job-card channel-card', dataset: { id: String(c.channel_account_id), pnid: c.phone_number_id } },
      h('div', { class: 'job-head' },
        h('h3', { class: 'job-name channel-name' }, c.display_name),
        h('span', { class: 'pill pill-no' }, t(`channelsAdmin.kind.${c.kind}`))),
      h('p', { class: 'muted small channel-ids' },
        t('channelsAdmin.ids', { pnid: c.phone_number_id, waba: c.business_account_id ?? '—', team: teamName(c.default_team_id) })),
      healthFacts(c),
      testResult(c),
      h('div', { class: 'row-actions job-actions' },
        c.kind === 'session' ? null : btn('btn-primary channel-test', t('channelsAdmin.test'), (e) => runTest(c, e.currentTarget)),
        btn('channel-edit', t('common.edit'), () => form(c)),
        btn('channel-events', t('channelsAdmin.events'), () => events(c)),
        btn('btn-danger channel-delete', t('common.delete'), () => remove(c))));
  }

  function render() {
    if (st.destroyed) return;
    empty.hidden = st.channels.length > 0;
    renderWebhook();
    clear(list, st.channels.map(card));
  }

  async function loadHealth() {
    const x = await get(`/channels/health?since=${encodeURIComponent(localMidnight())}`);
    st.webhookUrl = x.webhook_url ?? null;
    st.health = new Map(x.channels.map((c) => [c.channel_account_id, c]));
  }

  async function load() {
    try {
      const [channels] = await Promise.all([get('/channels'), loadHealth(), loadDirectory()]);
      if (st.destroyed) return;
      st.channels = channels;
      render();
      screen.dataset.state = 'ready';
    } catch (e) {
      showError(e);
    }
  }

  // A health row changed (test, webhook, error): read the health again, once per burst.
  const refreshHealth = refetcher(async () => {
    try {
      await loadHealth();
      render();
      screen.dataset.refreshed = String(Number(screen.dataset.refreshed ?? 0) + 1);
    } catch (e) {
      showError(e);
    }
  }, 150);

  async function runTest(c, button) {
    button.disabled = true;
    st.tests.set(c.channel_account_id, { running: true });
    render();
    try {
      const r = await post(`/channels/${c.channel_account_id}/test`);
      st.tests.set(c.channel_account_id, r);
      await loadHealth();
    } catch (e) {
      st.tests.delete(c.channel_account_id);
      showError(e);
    }
    render();
  }

  /** A secret's control: empty input; on edit, "set" with a button to replace it. */
  function secretControl(name, isEdit, extra) {
    const input = h('input', { name, type: 'password', autocomplete: 'new-password', spellcheck: 'false', maxlength: 4096, required: !isEdit });
    if (!isEdit) return { el: h('div', { class: 'secret-line' }, input, extra ?? null), input };
    input.hidden = true;
    input.disabled = true;
    const state = h('span', { class: 'pill pill-yes secret-set' }, t('channelsAdmin.secretSet'));
    const replace = h('button', { class: 'btn btn-small secret-replace', type: 'button', 'aria-label': `${t('channelsAdmin.replace')}: ${t(`field.${name}`)}`,
      onclick: () => { input.hidden = false; input.disabled = false; replace.hidden = true; state.hidden = true; if (extra) extra.hidden = false; input.focus(); } },
    t('channelsAdmin.replace'));
    if (extra) extra.hidden = true;
    return { el: h('div', { class: 'secret-line' }, state, replace, input, extra ?? null), input };
  }

  /** A secret's field: its label names the input (which may be hidden until "replace"). */
  function secretField(name, control, hint) {
    const id = `channel-${name}-${++seq}`;
    control.input.id = id;
    return h('div', { class: 'field secret-field', dataset: { name } },
      h('label', { class: 'field-label', for: id }, t(`field.${name}`)), control.el,
      h('span', { class: 'field-hint' }, hint));
  }

  function form(c) {
    const isEdit = !!c;
    const m = modal(isEdit ? t('channelsAdmin.editTitle', { name: c.display_name }) : t('channelsAdmin.addTitle'), { wide: true });
    const name = h('input', { name: 'display_name', required: true, maxlength: 200, value: c?.display_name ?? '' });
    const pnid = h('input', { name: 'phone_number_id', required: true, inputmode: 'numeric', maxlength: 32, autocomplete: 'off', value: c?.phone_number_id ?? '' });
    const waba = h('input', { name: 'business_account_id', inputmode: 'numeric', maxlength: 32, autocomplete: 'off', value: c?.business_account_id ?? '' });
    const teams = teamList();
    const team = select(teams.map((x) => ({ value: x.team_id, label: x.name })), c?.default_team_id ?? teams[0]?.team_id, { name: 'default_team_id' });
    const base = h('input', { name: 'base_url', type: 'url', maxlength: 500, autocomplete: 'off', spellcheck: 'false', value: c?.base_url ?? '', placeholder: 'https://graph.facebook.com/v21.0' });
    const access = secretControl('access_token', isEdit);
    const app = secretControl('app_secret', isEdit);
    // The verify token is typed or generated here, and copied to Meta's console now: once saved
    // it is never shown again (replace it to paste a new one).
    const verifyTools = h('span', { class: 'verify-tools' });
    const verify = secretControl('verify_token', isEdit, verifyTools);
    verify.input.type = 'text';
    verifyTools.append(
      h('button', { class: 'btn btn-small verify-generate', type: 'button', onclick: () => { verify.input.value = newVerifyToken(); verify.input.dispatchEvent(new Event('input')); } }, t('channelsAdmin.generate')),
      h('button', { class: 'btn btn-small verify-copy', type: 'button', 'aria-label': t('channelsAdmin.copyWhat', { what: t('field.verify_token') }),
        onclick: () => { if (verify.input.value.trim()) copy(verify.input.value.trim(), t('field.verify_token')); } }, t('channelsAdmin.copy')));
    if (!isEdit) verify.input.value = newVerifyToken();
    const f = h('form', { class: 'stack channel-form', novalidate: true },
      field(t('field.display_name'), name),
      field(t('field.phone_number_id'), pnid, t('channelsAdmin.pnidHint')),
      field(t('field.business_account_id'), waba, t('channelsAdmin.wabaHint')),
      field(t('field.default_team_id'), team, t('channelsAdmin.teamHint')),
      secretField('access_token', access, t('channelsAdmin.writeOnly')),
      secretField('app_secret', app, t('channelsAdmin.appSecretHint')),
      secretField('verify_token', verify, t('channelsAdmin.verifyHint')),
      h('details', { class: 'channel-advanced', open: !!c?.base_url },
        h('summary', {}, t('channelsAdmin.advanced')),
        field(t('field.base_url'), base, t('channelsAdmin.baseUrlHint'))),
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary channel-save', type: 'submit' }, isEdit ? t('common.save') : t('channelsAdmin.add'))));
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      const put = (k, v, old) => { if (!isEdit || v !== (old ?? '')) body[k] = v; };
      put('display_name', name.value.trim(), c?.display_name);
      put('phone_number_id', pnid.value.trim(), c?.phone_number_id);
      const w = waba.value.trim();
      if (!isEdit) { if (w) body.business_account_id = w; } else if (w !== (c.business_account_id ?? '')) body.business_account_id = w || null;
      const teamId = Number(team.value);
      if (!isEdit || teamId !== c.default_team_id) body.default_team_id = teamId;
      const b = base.value.trim();
      if (!isEdit) { if (b) body.base_url = b; } else if (b !== (c.base_url ?? '')) body.base_url = b || null;
      for (const s of [['access_token', access], ['app_secret', app], ['verify_token', verify]]) {
        if (!s[1].input.disabled && s[1].input.value.trim()) body[s[0]] = s[1].input.value.trim();
      }
      if (isEdit && !Object.keys(body).length) return m.close();
      try {
        if (isEdit) await patch(`/channels/${c.channel_account_id}`, body);
        else await post('/channels', { kind: 'cloud', ...body });
        m.close();
        toast(isEdit ? t('common.saved') : t('channelsAdmin.added'));
        await load();
      } catch (err) {
        fieldError(f, err);
      }
    });
    m.body.append(f);
    name.focus();
  }

  async function events(c) {
    const m = modal(t('channelsAdmin.eventsOf', { name: c.display_name }), { wide: true });
    try {
      const list = await get(`/channels/${c.channel_account_id}/events`);
      m.body.append(list.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'table channel-events' },
          h('thead', {}, h('tr', {}, [t('admin.eventAt'), t('admin.eventCode'), t('admin.eventReason')].map((x) => h('th', { scope: 'col' }, x)))),
          h('tbody', {}, list.map((ev) => h('tr', { dataset: { code: ev.code ?? '' } },
            h('td', {}, fmtDateTime(ev.occurred_at)),
            h('td', {}, ev.code ?? ''),
            h('td', { title: ev.detail ?? ev.title }, channelEventReason(ev)))))))
        : h('p', { class: 'muted' }, t('admin.noChannelEvents')));
    } catch (e) {
      m.close();
      showError(e);
    }
  }

  async function remove(c) {
    if (!(await confirmDialog(t('channelsAdmin.confirmDelete', { name: c.display_name }), t('common.delete')))) return;
    try {
      await del(`/channels/${c.channel_account_id}`);
      toast(t('channelsAdmin.deleted', { name: c.display_name }));
    } catch (e) {
      showError(e);
    }
    await load();
  }

  clear(panel, h('div', { class: 'channels-admin', dataset: { state: 'loading' } },
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.channels')),
      h('button', { class: 'btn btn-primary channel-add', type: 'button', onclick: () => form(null) }, t('channelsAdmin.addNumber'))),
    h('p', { class: 'muted' }, t('channelsAdmin.intro')),
    webhookBox,
    list,
    empty));
  const screen = panel.firstElementChild;

  const unsub = liveClient()?.subscribe('table:channel_health', {
    onSubscribed: ({ resumed }) => { if (!resumed) refreshHealth(); },
    onEvent: () => refreshHealth(),
    onReset: () => refreshHealth(),
    onError: (e) => showError(e),
  });
  const timer = setInterval(() => { if (document.visibilityState === 'visible') refreshHealth(); }, COUNTS_EVERY_MS);
  load();
  return {
    destroy() {
      st.destroyed = true;
      unsub?.();
      refreshHealth.cancel();
      clearInterval(timer);
    },
  };
}
