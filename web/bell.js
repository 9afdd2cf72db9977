// The notifications bell in the top bar: the unread count, a panel with the newest
// notifications (click one to mark it read and follow its link), "mark all read", kept live from
// `table:notifications` (the server sends each user only their own rows); its panel holds the
// attention preferences (attention.js).
import { get, post } from './api.js';
import { fmtNumber, fmtShort, t } from './i18n.js';
import { liveClient, refetcher } from './live.js';
import { h, showError } from './ui.js';
import { startAttention } from './attention.js';

const BELL_ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9"/><path d="M10.3 21a1.94 1.94 0 0 0 3.4 0"/></svg>')}`;

const REASSIGNMENTS = new Set(['prospect_assigned', 'prospect_removed', 'team_reassignment']);

/**
 * A notification in the reader's language, from its kind and parameters (the server's `title`
 * and `body` are English, and stay the words of kinds this version does not know).
 */
export function said(n) {
  const p = n.params ?? {};
  if (REASSIGNMENTS.has(n.kind)) {
    return {
      title: n.item_count === 1 && p.prospect ? t(`bell.${n.kind}.one`, { prospect: p.prospect }) : t(`bell.${n.kind}.many`, { n: n.item_count }),
      body: null,
    };
  }
  if (n.kind === 'ticket_update' && p.subject) {
    return {
      title: t(p.event === 'new' ? 'bell.ticket_new' : 'bell.ticket_updated', { subject: p.subject }),
      body: p.status ? t('bell.ticket_status', { status: t(`tickets.status.${p.status}`) }) : null,
    };
  }
  if (n.kind === 'ticket_comment' && p.subject) return { title: t('bell.ticket_comment', { subject: p.subject }), body: n.body };
  if (n.kind === 'note_mention' && p.author) return { title: t('bell.note_mention', { author: p.author, prospect: p.prospect ?? '' }), body: n.body };
  if (n.kind === 'call_missed' && p.prospect) return { title: t('bell.call_missed', { prospect: p.prospect }), body: null };
  if (n.kind === 'force_update' && p.version) return { title: t('bell.force_update', { version: p.version }), body: t('bell.force_update_body') };
  if (n.kind === 'campaign_finished' && p.campaign) {
    return { title: t('bell.campaign_finished', { campaign: p.campaign }), body: t('bell.campaign_queued', { n: p.queued ?? 0 }) };
  }
  return { title: n.title, body: n.body };
}

/** Builds the bell; returns { el, destroy }. */
export function mountBell() {
  const badge = h('span', { class: 'bell-badge', hidden: true });
  const list = h('ul', { class: 'bell-list' });
  const panel = h('div', { class: 'bell-panel', hidden: true, role: 'dialog', 'aria-label': t('bell.title') },
    h('div', { class: 'bell-head' },
      h('strong', {}, t('bell.title')),
      h('button', { class: 'btn btn-small bell-all', type: 'button', onclick: () => readAll() }, t('bell.markAll'))),
    list);
  // The tab title's count, desktop notifications and sound (attention.js): turned on here.
  const attention = startAttention();
  panel.append(attention.controls);
  const button = h('button', {
    class: 'btn btn-ghost bell', type: 'button', title: t('bell.title'), 'aria-label': t('bell.title'), 'aria-expanded': 'false',
    onclick: () => toggle(),
  }, h('img', { src: BELL_ICON, alt: '', width: 20, height: 20 }), badge);
  const el = h('div', { class: 'bell-wrap' }, button, panel);
  let alive = true;

  function toggle() {
    panel.hidden = !panel.hidden;
    button.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) load().catch(showError);
  }

  function close(refocus) {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (refocus) button.focus();
  }

  // Escape closes the panel (focus back on the bell), and so does a click anywhere outside it.
  const onKey = (e) => { if (e.key === 'Escape') close(true); };
  const onPointer = (e) => { if (!el.contains(e.target)) close(false); };
  document.addEventListener('keydown', onKey);
  document.addEventListener('pointerdown', onPointer);

  function render(page) {
    if (!alive) return;
    badge.hidden = page.unread === 0;
    badge.textContent = page.unread > 99 ? '99+' : fmtNumber(page.unread);
    el.dataset.unread = String(page.unread);
    // The visible count is part of the button's name (WCAG 2.5.3, label in name).
    const name = page.unread ? `${t('bell.title')} ${badge.textContent}` : t('bell.title');
    button.setAttribute('aria-label', name);
    button.title = name;
    list.replaceChildren(...(page.items.length
      ? page.items.map((n) => ({ n, text: said(n) })).map(({ n, text }) => h('li', { class: `bell-item${n.read_at ? '' : ' unread'}`, dataset: { id: n.notification_id } },
        h('button', { type: 'button', class: 'bell-open', onclick: () => open(n) },
          h('span', { class: 'bell-item-title' }, text.title),
          text.body ? h('span', { class: 'bell-item-body muted' }, text.body) : null,
          h('span', { class: 'bell-item-time muted' }, fmtShort(n.created_at)))))
      : [h('li', { class: 'muted bell-empty' }, t('bell.empty'))]));
  }

  async function load() {
    render(await get('/notifications?limit=20'));
  }

  async function open(n) {
    try {
      if (!n.read_at) await post(`/notifications/${n.notification_id}/read`);
      close(false);
      if (n.link) location.hash = n.link;
      await load();
    } catch (e) {
      showError(e);
    }
  }

  async function readAll() {
    try {
      await post('/notifications/read-all');
      await load();
    } catch (e) {
      showError(e);
    }
  }

  const refresh = refetcher(() => load().catch(() => {}), 50);
  const unsub = liveClient()?.subscribe('table:notifications', {
    onSubscribed: () => load().catch(() => {}),
    onEvent: (e) => {
      refresh();
      if (e.op === 'insert' && !e.row.read_at) attention.notification(said(e.row), e.row.link);
    },
    onReset: () => load().catch(() => {}),
  });
  if (!unsub) load().catch(() => {});
  return {
    el,
    destroy: () => {
      alive = false;
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onPointer);
      refresh.cancel();
      unsub?.();
      attention.destroy();
    },
  };
}
