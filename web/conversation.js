// One conversation: its messages, live (the `conversation:<id>` subscription) with delivery ticks,
// the reply box, marking read, the bot pause toggle, and the place of the prospect panel (its own
// module, prospect-panel.js).
import { blob, get, patch, post, put, query } from './api.js';
import { failureReason, fmtDateTime, fmtDay, fmtRelative, fmtTime, messagePreview, prospectName, t } from './i18n.js';
import { liveClient } from './live.js';
import { can } from './capabilities.js';
import { dir, teamName, userName } from './directory.js';
import { loadDraft, saveDraft } from './drafts.js';
import { mountComposer } from './composer.js';
import { contentView, hasContentView, isNote, openViewer, quoteView } from './message-view.js';
import { fmtSize } from './composer-text.js';
import { mountProspectPanel } from './prospect-panel.js';
import { PRIORITIES, allLabels, loadLabels } from './labels.js';
import { clear, field, h, hue, initials, modal, select, showError, toast } from './ui.js';
import { menuButton } from './menu.js';

// WhatsApp's customer service window: free replies this long after the prospect's last message.
const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;
const STATUS_RANK = { queued: 0, sent: 1, delivered: 2, read: 3, played: 4, failed: 5 };
// Queued is a small clock drawn in CSS (.tick-queued): no emoji font is needed to show it.
// Read differs from delivered in shape too (heavy checks), not only in colour.
const TICKS = { queued: '', unconfirmed: '?', sent: '✓', delivered: '✓✓', read: '✔✔', played: '✔✔', failed: '!' };

function older(a, b) {
  const ta = Date.parse(a.created_at);
  const tb = Date.parse(b.created_at);
  return ta !== tb ? ta - tb : a.message_id - b.message_id;
}

export function mountConversation(pane, id, { row, back, message }) {
  const st = { row: row ?? null, reveal: message ?? null, prospect: null, msgs: new Map(), cursor: null, hasMore: false, revoked: false, unsubs: [], destroyed: false, bot: null,
    // When the 24-hour window closes (ms), null when the prospect never wrote, undefined until known.
    windowClosesAt: undefined,
    // Media files loaded with the session's token, by URL: { url } (an object URL) or { failed }.
    blobs: new Map(), mediaTimer: null, mediaTries: 0 };

  // --- DOM ---
  const title = h('h2', { class: 'conv-name' });
  const subtitle = h('div', { class: 'conv-sub' });
  const avatar = h('div', { class: 'avatar avatar-lg', 'aria-hidden': 'true' });
  const botBtn = h('button', { class: 'btn btn-small bot-btn', type: 'button', hidden: true, onclick: () => toggleBot() });
  const botState = h('span', { class: 'bot-state', hidden: true });
  const statusBtn = h('button', { class: 'btn btn-small status-btn', type: 'button', onclick: () => toggleStatus() });
  // Triage: snooze (1 h, tomorrow 9:00, next week, custom), priority, labels.
  const snoozeSel = h('select', { name: 'snooze', class: 'snooze-sel', 'aria-label': t('triage.snooze') },
    h('option', { value: '' }, t('triage.snooze')),
    ...['hour', 'tomorrow', 'week', 'custom'].map((v) => h('option', { value: v }, t(`triage.snooze.${v}`))));
  const snoozeAt = h('input', { type: 'datetime-local', name: 'snooze_at', hidden: true, 'aria-label': t('triage.snooze.at') });
  const prioSel = select(PRIORITIES.map((v) => ({ value: v, label: t(`triage.priority.${v}`) })), row?.priority ?? 'none',
    { name: 'priority', class: 'prio-sel', 'aria-label': t('triage.priority') });
  const labelBox = h('div', { class: 'label-toggles', role: 'group', 'aria-label': t('triage.labels') });
  const triageBar = h('div', { class: 'triage-bar' }, snoozeSel, snoozeAt, prioSel, labelBox);
  // On a phone the details button is an icon (its name stays for screen readers).
  const infoBtn = h('button', { class: 'btn btn-small info-btn', type: 'button', 'aria-expanded': 'false', onclick: () => toggleInfo() },
    h('span', { class: 'info-icon', 'aria-hidden': 'true' }, 'i'), h('span', { class: 'info-text' }, t('conv.details')));
  // On a phone the status, bot, snooze and priority controls fold into one "More" menu (menu.js),
  // so the header keeps to one row and the labels to a second; desktop shows them as they are.
  const more = menuButton({ label: t('conv.moreActions'), content: '⋯', className: 'conv-more', items: () => moreItems() });
  const header = h('header', { class: 'conv-head' },
    h('button', { class: 'icon-btn back-btn', type: 'button', 'aria-label': t('conv.back'), onclick: back }, '←'),
    avatar, h('div', { class: 'conv-title' }, title, subtitle),
    h('div', { class: 'conv-actions' }, botState, botBtn, statusBtn, infoBtn, more.el));
  const olderBtn = h('button', { class: 'btn btn-small older', type: 'button', hidden: true, onclick: () => loadOlder() }, t('conv.older'));
  const msgList = h('ol', { class: 'msgs', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  // Shown until the first page of messages is in (a slow network shows something is coming).
  const loading = h('div', { class: 'progress conv-loading', role: 'progressbar', 'aria-label': t('inbox.loading') }, h('div', { class: 'progress-bar' }));
  const scroller = h('div', { class: 'msg-scroll', tabindex: '0', 'aria-label': t('conv.messages'), 'aria-busy': 'true' }, loading, olderBtn, msgList);
  const notice = h('div', { class: 'conv-notice', hidden: true });
  const input = h('textarea', { name: 'body', rows: 1, placeholder: t('conv.reply'), 'aria-label': t('conv.reply'), maxlength: 4096 });
  const sendBtn = h('button', { class: 'btn btn-primary send', type: 'submit', 'aria-label': t('conv.send') }, t('conv.send'));
  const composer = h('form', { class: 'composer' }, input, sendBtn);
  // Notes, mentions (composer.js): its tools above the box, its suggestions under it.
  const comp = mountComposer({ conversationId: id, input, form: composer, dropTarget: scroller,
    onNote: (m) => { upsert(m); sent(); }, onSent: (m) => { upsert(m); sent(); }, onModeChange: () => renderWindow() });
  composer.prepend(comp.popup);
  const hint = h('div', { class: 'composer-hint' }, t('conv.replyHint'));
  // The 24-hour window: time left, or (closed) why free text is refused and the template picker.
  const windowText = h('span', {});
  const templateBtn = h('button', { class: 'btn btn-small', type: 'button', hidden: true, onclick: () => pickTemplate() }, t('conv.template.send'));
  const windowNote = h('div', { class: 'window-note', hidden: true, 'aria-live': 'polite' }, windowText, templateBtn);
  const info = h('aside', { class: 'info', 'aria-label': t('conv.details') });
  const main = h('div', { class: 'conv-main' }, header, triageBar, scroller, notice, windowNote, comp.tools, composer, hint);
  const view = h('div', { class: 'conv', dataset: { state: 'loading' } }, main, info);
  clear(pane, view);

  // --- header ---
  function renderHeader() {
    const r = st.row;
    const name = prospectName(r?.prospect_name ?? st.prospect?.name ?? '');
    title.textContent = name;
    avatar.textContent = initials(name);
    avatar.style.setProperty('--h', hue(name));
    // A prospect WhatsApp shows only by its business-scoped user id has no number to show.
    const phone = r?.prospect_phone ?? st.prospect?.phone ?? (r || st.prospect ? t('prospect.noPhone') : '');
    const bits = [phone];
    if (can('see_teams') && r) bits.push(`${teamName(r.team_id)} · ${userName(r.executive_id)}`);
    subtitle.textContent = bits.filter(Boolean).join(' · ');
    const closed = r?.status === 'closed';
    const snoozed = r?.status === 'snoozed';
    statusBtn.textContent = closed ? t('conv.reopen') : snoozed ? t('triage.unsnooze') : t('conv.close');
    notice.hidden = !(closed || snoozed || st.revoked);
    notice.textContent = st.revoked ? t('conv.revoked') : closed ? t('conv.closed')
      : snoozed ? t('triage.snoozed', { time: fmtDateTime(r.snoozed_until) }) : '';
    prioSel.value = r?.priority ?? 'none';
    renderLabels();
    document.title = `${name} · ${t('app.name')}`;
    renderWindow();
  }

  function windowOpen() {
    return st.windowClosesAt === undefined || (st.windowClosesAt !== null && st.windowClosesAt > Date.now());
  }

  function renderWindow() {
    const known = st.windowClosesAt !== undefined && !st.revoked;
    const open = windowOpen();
    windowNote.hidden = !known;
    windowNote.dataset.state = open ? 'open' : 'closed';
    if (known) {
      windowText.textContent = open
        ? t('conv.window.open', { left: timeLeft(st.windowClosesAt - Date.now()) })
        : t(st.windowClosesAt === null ? 'conv.window.never' : 'conv.window.closed');
    }
    templateBtn.hidden = !known || open;
    // A private note is never sent to WhatsApp: the window does not apply to it.
    const free = open || comp.noteMode();
    input.disabled = st.revoked || !free;
    sendBtn.disabled = st.revoked || !free;
    if (!comp.noteMode()) input.placeholder = open ? t('conv.reply') : t('conv.window.closedPlaceholder');
  }

  function timeLeft(ms) {
    const minutes = Math.max(1, Math.ceil(ms / 60000));
    if (minutes < 60) return t('conv.window.minutesLeft', { n: minutes });
    return t('conv.window.hoursLeft', { h: Math.floor(minutes / 60), m: minutes % 60 });
  }
  // The time left counts down; the window closing locks the reply box.
  const windowTimer = setInterval(renderWindow, 30000);

  // Outside the window: an approved template, its parameters and a live preview.
  async function pickTemplate() {
    let templates;
    try {
      templates = (await get('/templates')).filter((x) => x.status === 'approved');
    } catch (e) {
      showError(e);
      return;
    }
    const m = modal(t('conv.template.send'), { wide: true });
    if (!templates.length) {
      m.body.append(h('p', {}, t('conv.template.none')),
        h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.close'))));
      return;
    }
    const which = select(templates.map((x, i) => ({ value: i, label: `${x.name} (${x.language})` })), 0, { name: 'template' });
    const params = h('div', { class: 'param-list' });
    const preview = h('p', { class: 'template-preview', 'aria-live': 'polite' });
    const send = h('button', { class: 'btn btn-primary', type: 'submit' }, t('conv.send'));
    const chosen = () => templates[Number(which.value)];
    const inputs = (kind) => [...params.querySelectorAll(`input[data-kind=${kind}]`)].map((i) => i.value);
    const fill = (text, values) => text.replace(/\{\{(\d+)\}\}/g, (all, n) => values[Number(n) - 1] || all);
    function renderPreview() {
      const x = chosen();
      preview.textContent = [x.header ? fill(x.header, inputs('header')) : null, fill(x.body, inputs('body'))].filter(Boolean).join('\n\n');
    }
    function renderParams() {
      const x = chosen();
      clear(params,
        Array.from({ length: x.header_params }, () => field(t('conv.template.header'),
          h('input', { name: 'header_parameters', dataset: { kind: 'header' }, required: true, oninput: renderPreview }))),
        Array.from({ length: x.params }, (_, i) => field(t('campaigns.param', { n: i + 1 }),
          h('input', { name: 'parameters', dataset: { kind: 'body' }, required: true, oninput: renderPreview }))));
      renderPreview();
    }
    which.addEventListener('change', renderParams);
    const form = h('form', { class: 'stack template-form' },
      field(t('conv.template.choose'), which), params,
      h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('conv.template.preview')), preview),
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')), send));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const x = chosen();
      send.disabled = true;
      try {
        const sent = await post(`/conversations/${id}/messages`, {
          template: { name: x.name, language: x.language, parameters: inputs('body'), header_parameters: inputs('header') },
        });
        upsert(sent);
        renderMessages({ stick: true });
        m.close();
      } catch (err) {
        showError(err);
      } finally {
        send.disabled = false;
      }
    });
    m.body.append(form);
    renderParams();
  }

  // --- messages ---
  function upsert(m) {
    const prev = st.msgs.get(m.message_id);
    // A failed message queued again is a retry, not an old event.
    const retried = prev?.status === 'failed' && m.status === 'queued';
    if (prev && !retried && (STATUS_RANK[prev.status] ?? 0) > (STATUS_RANK[m.status] ?? 0) && !m.read_at) return false;
    st.msgs.set(m.message_id, { ...prev, ...m });
    return true;
  }

  function renderMessages({ stick } = {}) {
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const sorted = [...st.msgs.values()].sort(older);
    const items = [];
    let day = '';
    for (const m of sorted) {
      const d = new Date(m.created_at).toDateString();
      if (d !== day) {
        day = d;
        items.push(h('li', { class: 'day' }, h('span', {}, fmtDay(m.created_at))));
      }
      const out = m.direction === 'out';
      const note = isNote(m);
      // The send's answer was lost and no status has come: WhatsApp may or may not have it.
      const tick = out && m.unconfirmed && m.status === 'queued' ? 'unconfirmed' : m.status;
      // A campaign's message is tagged with its campaign, not shown as nobody's ("Unassigned"); a
      // live row has the campaign's id, its name comes with the page read after it.
      const campaign = out && m.campaign_id != null
        ? h('span', { class: 'msg-campaign', dataset: { campaignId: m.campaign_id } },
          m.campaign_name ? t('conv.campaign', { name: m.campaign_name }) : t('conv.campaignTag'))
        : null;
      const who = out ? (campaign ?? (m.sender_kind === 'bot' ? t('inbox.bot') : userName(m.sender_user_id))) : null;
      // The message this one replies to (when loaded), and the prospect's reaction to it.
      const quoted = m.reply_to_message_id ? st.msgs.get(m.reply_to_message_id) : null;
      items.push(h('li', { class: `msg ${out ? 'out' : 'in'}${m.sender_kind === 'bot' ? ' bot' : ''}${note ? ' note' : ''}${m.reaction ? ' reacted' : ''}${m.message_id === st.reveal ? ' msg-found' : ''}`, id: `msg-${m.message_id}`, dataset: { status: m.status, kind: m.kind ?? 'message' } },
        who ? h('div', { class: 'msg-who' }, note ? h('span', { class: 'note-label' }, t('composer.noteLabel')) : null, who) : null,
        quoted ? quoteView(quoted, () => document.getElementById(`msg-${quoted.message_id}`)?.scrollIntoView({ block: 'center' })) : null,
        mediaView(m),
        contentView(m),
        bodyText(m) && !hasContentView(m) ? h('div', { class: 'msg-body' }, bodyText(m)) : null,
        h('div', { class: 'msg-meta' },
          h('time', { datetime: m.created_at, title: fmtDateTime(m.created_at) }, fmtTime(m.created_at)),
          out && !note ? h('span', { class: `tick tick-${tick}`, title: t(`conv.status.${tick}`), 'aria-label': t(`conv.status.${tick}`), role: 'img' }, TICKS[tick] ?? '') : null,
          tick === 'unconfirmed' ? h('span', { class: 'msg-unconfirmed' }, t('conv.status.unconfirmed')) : null,
          // Quote-reply: messages WhatsApp has (a note or a queued message has no WhatsApp id).
          m.external_id && !note ? h('button', { class: 'msg-reply-btn', type: 'button', title: t('composer.quote'), 'aria-label': t('composer.quote'), onclick: () => comp.quote(m) }, '↩') : null),
        m.reaction ? h('span', { class: 'msg-reaction', title: t('conv.reaction'), 'aria-label': `${t('conv.reaction')}: ${m.reaction}` }, m.reaction) : null,
        out && m.status === 'failed' ? failure(m) : null));
    }
    if (!sorted.length) items.push(h('li', { class: 'empty' }, t('conv.noMessages')));
    clear(msgList, items);
    olderBtn.hidden = !st.hasMore;
    if (st.revealHold) keepInView();
    else if (stick || nearBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  // A media message's body is WhatsApp's placeholder ("[image] caption"): the file shows itself,
  // the caption stays.
  function bodyText(m) {
    const tag = m.media ? `[${m.media.kind}]` : null;
    return tag && m.body.startsWith(tag) ? m.body.slice(tag.length).trim() : messagePreview(m.body);
  }

  // --- media ---
  // An image shows its thumbnail (a click opens the full image), an audio its player, other files
  // a download link, a file WhatsApp did not give "media unavailable". Images are fetched with the
  // session's token (object URLs); a pending file is looked at again shortly.
  function mediaView(m) {
    const md = m.media;
    if (!md) return null;
    if (md.state === 'unavailable') {
      return h('div', { class: 'msg-media msg-media-unavailable', role: 'note', title: md.reason ?? '' }, t('conv.media.unavailable'));
    }
    if (md.state === 'pending') {
      refreshMediaSoon();
      return h('div', { class: 'msg-media msg-media-pending' }, t('conv.media.loading'));
    }
    if (md.thumbnail_url) {
      const thumb = loadBlob(md.thumbnail_url);
      return h('button', { class: 'msg-media msg-media-image', type: 'button', title: t('conv.media.open'), 'aria-label': t('conv.media.open'), onclick: () => viewImage(md) },
        thumb?.url ? h('img', { class: 'msg-thumb', src: thumb.url, alt: md.filename ?? t('conv.media.image') })
          : thumb?.failed ? t('conv.media.unavailable') : t('conv.media.loading'));
    }
    // Audio plays from the file's own URL (the session cookie authenticates it): the
    // Content-Security-Policy lets media load only from the server itself, never from blob: URLs.
    if (md.kind === 'audio') {
      return h('audio', { class: 'msg-media msg-audio', controls: true, preload: 'metadata', src: md.url, 'aria-label': t('conv.media.kind.audio') });
    }
    // A plain link (the session cookie authenticates it): it downloads with its name, and opens
    // or saves like any link.
    return h('a', { class: 'msg-media msg-media-file', href: md.url, download: md.filename ?? `${md.kind}-${md.id}`, type: md.mime_type ?? null },
      `⤓ ${md.filename ?? t(`conv.media.kind.${md.kind}`)}`, md.size != null ? h('span', { class: 'msg-media-size' }, ` · ${fmtSize(md.size)}`) : null);
  }

  // The full image in the viewer (Escape closes it).
  async function viewImage(md) {
    try {
      let got = st.blobs.get(md.url);
      if (!got?.url) {
        got = { url: URL.createObjectURL(await blob(md.url.replace(/^\/api\/v1/, ''))) };
        st.blobs.set(md.url, got);
      }
      openViewer(got.url, md.filename ?? t('conv.media.image'));
    } catch (e) {
      showError(e);
    }
  }

  // The object URL of a media file, loading it (once) when not yet loaded.
  function loadBlob(url) {
    const have = st.blobs.get(url);
    if (have) return have;
    st.blobs.set(url, {});
    blob(url.replace(/^\/api\/v1/, ''))
      .then((b) => st.blobs.set(url, { url: URL.createObjectURL(b) }))
      .catch(() => st.blobs.set(url, { failed: true }))
      .finally(() => { if (!st.destroyed) renderMessages(); });
    return null;
  }

  // Media still being fetched from WhatsApp, or a live message whose media the event does not
  // carry: the newest page is read again, less and less often (20 times at most, then only on the
  // next event).
  function refreshMediaSoon() {
    if (st.mediaTimer || st.mediaTries >= 20 || st.destroyed) return;
    st.mediaTimer = setTimeout(async () => {
      st.mediaTimer = null;
      st.mediaTries += 1;
      try {
        const page = await get(`/conversations/${id}/messages${query({ limit: 20 })}`);
        for (const m of page.items) {
          const prev = st.msgs.get(m.message_id);
          if (prev) st.msgs.set(m.message_id, { ...prev, media: m.media, wa_type: m.wa_type, content: m.content, campaign_name: m.campaign_name });
        }
        if (!st.destroyed) renderMessages();
      } catch {
        // The next event or render tries again.
      }
    }, Math.min(1500 * (st.mediaTries + 1), 30000));
  }

  // Why a message failed, in the user's language (mapped from WhatsApp's code), and a Retry
  // button where a retry may work.
  function failure(m) {
    const reason = failureReason(m.error);
    return h('div', { class: 'msg-error', role: 'note' },
      h('span', { class: 'msg-error-text', title: m.error?.detail ?? m.error?.title ?? '' }, reason),
      m.error?.retryable ? h('button', { class: 'btn btn-small msg-retry', type: 'button', onclick: (ev) => retry(m, ev.currentTarget) }, t('conv.retry')) : null);
  }

  async function retry(m, btn) {
    btn.disabled = true;
    try {
      const updated = await post(`/messages/${m.message_id}/retry`);
      st.msgs.set(m.message_id, { ...st.msgs.get(m.message_id), ...updated });
      renderMessages();
    } catch (e) {
      btn.disabled = false;
      showError(e);
    }
  }

  async function loadMessages() {
    try {
      const page = await get(`/conversations/${id}/messages${query({ limit: 50 })}`);
      for (const m of page.items) if (!st.msgs.has(m.message_id)) st.msgs.set(m.message_id, m);
      st.windowClosesAt = page.service_window_closes_at ? Date.parse(page.service_window_closes_at) : null;
      renderWindow();
      st.cursor = page.next_cursor ?? null;
      st.hasMore = Boolean(page.next_cursor);
      renderMessages({ stick: true });
      if (st.reveal) reveal(st.reveal);
    } catch (e) {
      if (e.status === 404) revoked();
      else showError(e);
    } finally {
      loading.hidden = true;
      scroller.removeAttribute('aria-busy');
      view.dataset.state = 'ready';
    }
  }

  // A message to show (a search result's): older pages are loaded until it is there (at most 20
  // pages of 50), then it is scrolled to the middle and marked.
  async function reveal(messageId) {
    st.reveal = messageId;
    for (let i = 0; i < 20 && !st.msgs.has(messageId) && st.cursor && !st.destroyed; i++) await loadOlder();
    renderMessages();
    const el = document.getElementById(`msg-${messageId}`);
    if (!el) return;
    pinned = false;
    // Held in view while what is above it still loads (thumbnails), until the user scrolls.
    st.revealHold = true;
    el.scrollIntoView({ block: 'center' });
  }

  // What must stay in view when the list's height changes without the user: the revealed message
  // (until the user moves), else the newest one if it was showing.
  function keepInView() {
    if (st.revealHold) document.getElementById(`msg-${st.reveal}`)?.scrollIntoView({ block: 'center' });
    else if (pinned) scroller.scrollTop = scroller.scrollHeight;
  }

  async function loadOlder() {
    if (!st.cursor) return;
    const before = scroller.scrollHeight;
    try {
      const page = await get(`/conversations/${id}/messages${query({ limit: 50, cursor: st.cursor })}`);
      for (const m of page.items) if (!st.msgs.has(m.message_id)) st.msgs.set(m.message_id, m);
      st.cursor = page.next_cursor ?? null;
      st.hasMore = Boolean(page.next_cursor);
      renderMessages();
      scroller.scrollTop = scroller.scrollHeight - before;
    } catch (e) {
      showError(e);
    }
  }

  // The list shrinks when a banner appears above it (connection, live updates paused, new
  // version) or the keyboard opens: one that showed the newest message keeps showing it.
  let pinned = true;
  const keepPinned = new ResizeObserver(() => {
    if (pinned) scroller.scrollTop = scroller.scrollHeight;
  });
  keepPinned.observe(scroller);

  // A loaded image or media player changes the height of what is above: keep the place.
  for (const type of ['load', 'loadedmetadata']) msgList.addEventListener(type, keepInView, true);
  for (const type of ['wheel', 'touchstart', 'keydown', 'pointerdown']) {
    scroller.addEventListener(type, () => { st.revealHold = false; }, { passive: true });
  }

  scroller.addEventListener('scroll', () => {
    pinned = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    if (scroller.scrollTop < 40 && st.hasMore && !st.loadingOlder) {
      st.loadingOlder = true;
      loadOlder().finally(() => { st.loadingOlder = false; });
    }
  });

  let readTimer = null;
  function markRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (st.destroyed || st.revoked) return;
      post(`/conversations/${id}/read`).catch(() => {});
    }, 150);
  }

  // --- reply ---
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  const fit = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(160, input.scrollHeight)}px`;
  };
  // The unsent reply is kept (drafts.js) and comes back when the conversation opens again.
  // Saved on every keystroke (a synchronous write): a forced reload can come at any moment.
  input.value = loadDraft(dir.me, id);
  input.addEventListener('input', () => {
    fit();
    saveDraft(dir.me, id, input.value);
  });
  // After a reply or a note: the box empties and the list shows the newest.
  function sent() {
    comp.clearQuote();
    saveDraft(dir.me, id, '');
    input.value = '';
    input.style.height = 'auto';
    renderMessages({ stick: true });
  }
  composer.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = input.value.trim();
    if ((!body && !comp.hasFile()) || sendBtn.disabled) return;
    sendBtn.disabled = true;
    try {
      if (await comp.submit()) return;
      const m = await post(`/conversations/${id}/messages`, { body, ...comp.replyTo() });
      upsert(m);
      sent();
    } catch (err) {
      // The window closed meanwhile: say so in the user's language, and offer a template.
      if (err.code === 'outside_service_window') {
        // Closed now (unless the prospect never wrote, which says so already); also when the
        // window was not known yet, so the refusal is never silent.
        if (st.windowClosesAt !== null) st.windowClosesAt = Math.min(st.windowClosesAt ?? Date.now(), Date.now());
        renderWindow();
      } else showError(err);
    } finally {
      renderWindow();
      if (!input.disabled) input.focus();
    }
  });

  // --- status, snooze, priority, labels and bot ---
  async function triage(body) {
    try {
      st.row = await patch(`/conversations/${id}`, body);
      renderHeader();
    } catch (e) {
      showError(e);
      renderHeader();
    }
  }

  async function toggleStatus() {
    await triage({ status: st.row?.status === 'open' ? 'closed' : 'open' });
  }

  /** When a snooze choice ends, in the browser's time zone. */
  function snoozeUntil(choice) {
    const d = new Date();
    if (choice === 'hour') return new Date(d.getTime() + 3600e3);
    if (choice === 'tomorrow') return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1, 9, 0);
    if (choice === 'week') {
      // Next Monday, 9:00.
      const days = ((8 - d.getDay()) % 7) || 7;
      return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days, 9, 0);
    }
    return null;
  }

  function snooze(choice) {
    snoozeAt.hidden = choice !== 'custom';
    if (choice === 'custom') {
      snoozeAt.focus();
      return;
    }
    snoozeSel.value = '';
    const until = snoozeUntil(choice);
    if (until) triage({ status: 'snoozed', snoozed_until: until.toISOString() });
  }
  snoozeSel.addEventListener('change', () => snooze(snoozeSel.value));
  snoozeAt.addEventListener('change', () => {
    const until = new Date(snoozeAt.value);
    if (Number.isNaN(until.getTime())) return;
    snoozeAt.hidden = true;
    snoozeSel.value = '';
    triage({ status: 'snoozed', snoozed_until: until.toISOString() });
  });
  prioSel.addEventListener('change', () => triage({ priority: prioSel.value }));

  // The phone's "More" menu: the same actions as the status and bot buttons and the snooze and
  // priority selects.
  function moreItems() {
    const b = st.bot;
    const prio = st.row?.priority ?? 'none';
    return [
      { text: statusBtn.textContent, className: 'more-status', onSelect: () => toggleStatus() },
      b ? { text: b.paused ? t('conv.botResume') : t('conv.botPause'), hint: botState.textContent, className: 'more-bot', onSelect: () => toggleBot() } : null,
      { group: t('triage.snooze'), items: ['hour', 'tomorrow', 'week', 'custom'].map((v) => ({ text: t(`triage.snooze.${v}`), className: `more-snooze-${v}`, onSelect: () => snooze(v) })) },
      { group: t('triage.priority'), items: PRIORITIES.map((v) => ({ text: t(`triage.priority.${v}`), checked: v === prio, className: `more-prio-${v}`, onSelect: () => triage({ priority: v }) })) },
    ].filter(Boolean);
  }

  function renderLabels() {
    const on = new Set(st.row?.label_ids ?? []);
    clear(labelBox, ...allLabels().map((l) => {
      const b = h('button', { type: 'button', class: 'label-toggle', 'aria-pressed': String(on.has(l.label_id)), dataset: { labelId: String(l.label_id) },
        onclick: () => triage(on.has(l.label_id) ? { labels_remove: [l.label_id] } : { labels_add: [l.label_id] }) },
      h('span', { class: 'label-dot', 'aria-hidden': 'true' }), l.name);
      b.style.setProperty('--label', l.colour);
      return b;
    }));
  }
  loadLabels(true).then(() => renderLabels()).catch(() => {});

  function renderBot() {
    const b = st.bot;
    botBtn.hidden = !b;
    botState.hidden = !b;
    if (!b) return;
    botBtn.textContent = b.paused ? t('conv.botResume') : t('conv.botPause');
    botBtn.setAttribute('aria-pressed', String(Boolean(b.paused)));
    // The toggle stays: a pause set now holds when an admin turns the bot on.
    botState.textContent = b.paused
      ? `${t('conv.botPaused')}${b.resumes_at ? ` · ${t('conv.botResumesAt', { time: fmtRelative(b.resumes_at) })}` : ''}`
      : b.bot_enabled === false ? t('conv.botOff') : t('conv.botActive');
    botState.classList.toggle('paused', Boolean(b.paused));
  }

  async function loadBot() {
    try {
      st.bot = await get(`/conversations/${id}/bot`);
    } catch (e) {
      st.bot = null; // 404: the server has no bot pause API (or the conversation is gone)
      if (e.status !== 404) showError(e);
    }
    renderBot();
  }

  async function toggleBot() {
    if (!st.bot) return;
    botBtn.disabled = true;
    try {
      st.bot = await put(`/conversations/${id}/bot`, { paused: !st.bot.paused });
      renderBot();
    } catch (e) {
      showError(e);
    } finally {
      botBtn.disabled = false;
    }
  }

  // --- prospect panel (web/prospect-panel.js) ---
  // Below 1180 px the prospect panel is a drawer: its button, its close button and Escape.
  function toggleInfo(open = !view.classList.contains('info-open')) {
    view.classList.toggle('info-open', open);
    infoBtn.setAttribute('aria-expanded', String(open));
    if (open) panel?.focusClose();
  }
  const onInfoKey = (e) => {
    if (e.key === 'Escape' && view.classList.contains('info-open')) {
      toggleInfo(false);
      infoBtn.focus();
    }
  };
  document.addEventListener('keydown', onInfoKey);

  let panel = null;
  function loadProspect() {
    const pid = st.row?.prospect_id;
    if (!pid) return;
    if (panel) return panel.reload();
    panel = mountProspectPanel(info, {
      prospectId: pid,
      conversationId: id,
      onClose: () => { toggleInfo(false); infoBtn.focus(); },
      onProspect: (p) => { st.prospect = p; },
    });
  }

  // --- live ---
  const client = liveClient();

  // Out of the user's sight (moved to a team or executive they do not see): the conversation
  // locks, and an inbox subscription watches for its row, so it unlocks live when it comes back.
  let watch = null;
  function revoked() {
    st.revoked = true;
    renderHeader();
    if (watch || st.destroyed) return;
    watch = client.subscribe('inbox', {
      // Back before the watch began? Ask once it is in place.
      onSubscribed: () => get(`/conversations/${id}`).then(visibleAgain, () => {}),
      onEvent: (e) => {
        if (e.kind === 'upsert' && e.row.conversation_id === id) visibleAgain(e.row);
      },
    });
  }

  function visibleAgain(row) {
    if (!st.revoked || st.destroyed) return;
    watch?.();
    watch = null;
    st.revoked = false;
    st.row = { ...st.row, ...row };
    renderHeader();
    followConversation();
    followProspect();
    loadProspect();
    loadBot();
  }

  function followConversation() {
    st.unsubs.push(client.subscribe(`conversation:${id}`, {
      onSubscribed: ({ resumed }) => {
        if (!resumed) loadMessages();
      },
      onEvent: (e) => {
        if (e.table === 'messages') {
          if (e.op === 'delete') st.msgs.delete(e.row.message_id);
          else upsert(e.row);
          // Row events carry no media: read it (for a new message) from the page.
          if (e.op === 'insert') {
            st.mediaTries = 0;
            refreshMediaSoon();
          }
          renderMessages();
          if (e.op === 'insert' && e.row.direction === 'in') {
          // The prospect wrote: the 24-hour window (re)opens from this message.
          st.windowClosesAt = Date.parse(e.row.created_at) + SERVICE_WINDOW_MS;
          renderWindow();
          if (document.visibilityState === 'visible') markRead();
        }
        } else if (e.table === 'conversations' && e.op === 'update' && st.row) {
          st.row = { ...st.row, status: e.row.status, snoozed_until: e.row.snoozed_until ?? null,
            priority: PRIORITIES[e.row.priority] ?? st.row.priority };
          renderHeader();
        } else if (e.table === 'bot_pause') {
          loadBot();
        }
      },
      onReset: () => loadMessages(),
      onRevoked: () => revoked(),
      onError: (e) => (e.code === 'not_found' ? revoked() : showError(e)),
    }));
  }

  let prospectSub = null;
  function followProspect() {
    if (!st.row?.prospect_id) return;
    prospectSub?.();
    prospectSub = client.subscribe('table:prospects', {
      filters: { prospect_id: `eq.${st.row.prospect_id}` },
      events: ['update'],
      onEvent: (e) => {
        st.row = { ...st.row, team_id: e.row.team_id, executive_id: e.row.executive_id, prospect_name: e.row.name };
        renderHeader();
        loadProspect();
      },
    });
  }
  st.unsubs.push(() => prospectSub?.());
  followConversation();

  // Without a live connection (yet), load the messages anyway.
  const fallback = setTimeout(() => {
    if (!st.msgs.size && !st.revoked) loadMessages();
  }, 2500);

  async function start() {
    if (!st.row) {
      try {
        st.row = await get(`/conversations/${id}`);
      } catch (e) {
        if (e.status === 404) revoked();
        else showError(e);
        return;
      }
    }
    renderHeader();
    markRead();
    loadBot();
    await loadProspect();
    followProspect();
  }
  renderHeader();
  start();
  const onVisible = () => document.visibilityState === 'visible' && markRead();
  document.addEventListener('visibilitychange', onVisible);
  setTimeout(() => window.matchMedia('(pointer: fine)').matches && input.focus(), 0);

  return {
    /** Shows message `messageId` (loading older pages as needed). */
    reveal(messageId) {
      if (st.msgs.size) reveal(messageId);
      else st.reveal = messageId;
    },
    destroy() {
      st.destroyed = true;
      more.close();
      keepPinned.disconnect();
      clearTimeout(st.mediaTimer);
      comp.destroy();
      for (const b of st.blobs.values()) if (b.url) URL.revokeObjectURL(b.url);
      clearTimeout(readTimer);
      clearInterval(windowTimer);
      clearTimeout(fallback);
      document.removeEventListener('visibilitychange', onVisible);
      document.removeEventListener('keydown', onInfoKey);
      watch?.();
      panel?.destroy();
      for (const u of st.unsubs) u();
    },
  };
}

