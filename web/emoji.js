// A small emoji picker for the reply box: a built-in list of common emoji (no network, no
// font download), in a popover grid; a click (or Enter) inserts one at the caret, Escape closes.
import { t } from './i18n.js';
import { h } from './ui.js';

/** The emoji offered, most used in sales chats first. */
export const EMOJI = [
  '😀', '😁', '😂', '🤣', '😊', '😇', '🙂', '😉', '😍', '🥰', '😘', '😎',
  '🤔', '🤗', '🤩', '😅', '😬', '🙄', '😢', '😭', '😡', '😱', '🥳', '😴',
  '👍', '👎', '👌', '🙏', '👏', '🙌', '💪', '🤝', '✌️', '👋', '🤞', '☝️',
  '❤️', '💚', '💙', '💛', '🔥', '✨', '⭐', '🎉', '🎁', '💯', '✅', '❌',
  '⚠️', '❓', '❗', '💰', '💵', '💳', '🛒', '📦', '🚚', '📅', '⏰', '📞',
  '📱', '💻', '📧', '📄', '📎', '📍', '🏠', '🏢', '🚗', '☕', '🍕', '🌮',
];

/**
 * The emoji button and its popover for `input`; returns { button, panel, destroy }.
 */
export function mountEmoji(input) {
  const panel = h('div', { class: 'emoji-panel', role: 'dialog', 'aria-label': t('composer.emoji'), hidden: true },
    h('div', { class: 'emoji-grid', role: 'group' }, EMOJI.map((e) => h('button', {
      class: 'emoji', type: 'button', title: e, 'aria-label': e,
      onclick: () => { insert(e); close(); },
    }, e))));
  const button = h('button', { class: 'btn btn-small composer-tool emoji-btn', type: 'button', 'aria-expanded': 'false',
    title: t('composer.emoji'), 'aria-label': t('composer.emoji'), onclick: () => (panel.hidden ? open() : close()) }, '😊');

  function insert(e) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.value = input.value.slice(0, start) + e + input.value.slice(end);
    const at = start + e.length;
    input.setSelectionRange(at, at);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.focus();
  }
  function open() {
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    panel.querySelector('button')?.focus();
  }
  function close(refocus = false) {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (refocus) button.focus();
  }
  const onKey = (e) => { if (e.key === 'Escape' && !panel.hidden) { e.stopPropagation(); close(true); } };
  const onPointer = (e) => { if (!panel.contains(e.target) && e.target !== button) close(); };
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('pointerdown', onPointer);
  return {
    button,
    panel,
    destroy() {
      document.removeEventListener('keydown', onKey, true);
      document.removeEventListener('pointerdown', onPointer);
    },
  };
}
