// How the messages of a conversation show what they carry beyond their text: private notes, a
// location (a map link), shared contacts (a card), an order (items, quantities, total), the
// quoted message, and the image viewer. The data comes from message-parts.js.
import { fmtNumber, t } from './i18n.js';
import { contactsOf, locationOf, orderOf, snippet } from './message-parts.js';
import { h } from './ui.js';

/** A private note of the team: never sent to WhatsApp. */
export function isNote(m) {
  return m?.kind === 'note';
}

/** Whether the structure replaces the body (the placeholder text says the same, worse). */
export function hasContentView(m) {
  return Boolean(locationOf(m) || contactsOf(m) || orderOf(m));
}

function money(amount, currency) {
  if (amount == null) return '';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency || 'USD' }).format(amount);
  } catch {
    return `${fmtNumber(amount)} ${currency ?? ''}`.trim();
  }
}

/** The location, contacts or order of a message, or null. */
export function contentView(m) {
  const loc = locationOf(m);
  if (loc) {
    return h('div', { class: 'msg-location' },
      h('a', { href: loc.url, target: '_blank', rel: 'noopener noreferrer', class: 'msg-map-link' },
        loc.name ?? t('msg.location')),
      loc.address ? h('div', { class: 'small muted' }, loc.address) : null,
      h('div', { class: 'small muted' }, `${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}`));
  }
  const contacts = contactsOf(m);
  if (contacts) {
    return h('div', { class: 'msg-contacts' }, contacts.map((c) => h('div', { class: 'msg-contact', role: 'group', 'aria-label': t('msg.contact') },
      h('div', { class: 'msg-contact-name' }, c.name || t('msg.contact')),
      c.phones.map((p) => h('div', { class: 'small' }, h('a', { href: `tel:${p.phone.replace(/[^+\d]/g, '')}` }, p.phone),
        p.type ? h('span', { class: 'muted' }, ` · ${p.type.toLowerCase()}`) : null)))));
  }
  const order = orderOf(m);
  if (order) {
    return h('div', { class: 'msg-order' },
      h('div', { class: 'msg-order-title' }, t('msg.order', { n: order.items.length })),
      h('table', { class: 'msg-order-items' },
        h('thead', {}, h('tr', {}, h('th', {}, t('msg.orderItem')), h('th', {}, t('msg.orderQty')), h('th', {}, t('msg.orderPrice')))),
        h('tbody', {}, order.items.map((i) => h('tr', {}, h('td', {}, i.id), h('td', {}, i.quantity ?? '–'), h('td', {}, money(i.price, i.currency))))),
        order.total ? h('tfoot', {}, h('tr', {}, h('th', { colspan: '2' }, t('msg.orderTotal')), h('td', {}, money(order.total.amount, order.total.currency)))) : null),
      order.text ? h('div', { class: 'small' }, order.text) : null);
  }
  return null;
}

/** The quote at the top of a reply's bubble: the quoted message's snippet. */
export function quoteView(quoted, onClick) {
  return h('button', { class: 'msg-quote', type: 'button', title: t('conv.replyTo'), onclick: onClick },
    h('span', { class: 'msg-quote-who' }, quoted.direction === 'in' ? t('msg.quotedProspect') : t('msg.quotedYou')), ' ',
    snippet(quoted));
}

/** A full-size image over the page; Escape, the close button or a click outside it closes it. */
export function openViewer(url, alt) {
  const previous = document.activeElement;
  const close = () => {
    dialog.close();
    dialog.remove();
    previous?.focus?.();
  };
  const closeBtn = h('button', { class: 'icon-btn viewer-close', type: 'button', 'aria-label': t('common.close'), onclick: () => close() }, '×');
  const dialog = h('dialog', { class: 'viewer', 'aria-label': alt || t('conv.media.image') },
    closeBtn, h('img', { class: 'viewer-img', src: url, alt: alt ?? '' }));
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  dialog.addEventListener('click', (e) => { if (e.target === dialog) close(); });
  document.body.append(dialog);
  dialog.showModal();
  closeBtn.focus();
  return { dialog, close };
}
