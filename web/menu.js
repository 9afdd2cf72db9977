// A menu button (the WAI-ARIA menu button pattern): a button with `aria-haspopup` and
// `aria-expanded` that opens a `role=menu` list of items. Enter, Space or ArrowDown open it on
// the first item (ArrowUp on the last); arrows, Home and End move; Enter or a click chooses;
// Escape, Tab, a click outside or a choice close it, and focus goes back to the button (unless
// the choice moved it on purpose). The items are built each time it opens, so they show the
// current state.
import { clear, h } from './ui.js';

let seq = 0;

/**
 * `items()` returns the entries: { text, onSelect, checked?, hint?, className? } (an item; with
 * `checked` a menuitemradio), { group: label, items: [...] } (a labelled group) or 'separator'.
 * Returns { el (the wrapper), button, close }.
 */
export function menuButton({ label, content, className = '', items }) {
  const id = `menu-${++seq}`;
  const button = h('button', { class: `btn btn-small menu-btn ${className}`.trim(), type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': id, 'aria-label': label, title: label }, content);
  const menu = h('div', { class: 'menu', role: 'menu', id, 'aria-label': label, hidden: true, tabindex: '-1' });
  const el = h('div', { class: 'menu-wrap' }, button, menu);
  const entries = () => [...menu.querySelectorAll('[role^=menuitem]')];

  function item(x) {
    const radio = typeof x.checked === 'boolean';
    return h('button', { type: 'button', class: `menu-item ${x.className ?? ''}`.trim(), role: radio ? 'menuitemradio' : 'menuitem', tabindex: '-1',
      'aria-checked': radio ? String(x.checked) : null,
      onclick: () => choose(x) },
    h('span', { class: 'menu-item-text' }, x.text), x.hint ? h('span', { class: 'menu-item-hint' }, x.hint) : null);
  }

  function render() {
    clear(menu, items().map((x, i) => {
      if (x === 'separator') return h('div', { role: 'separator', class: 'menu-sep' });
      if (x.group) {
        const gid = `${id}-g${i}`;
        return h('div', { role: 'group', class: 'menu-group', 'aria-labelledby': gid },
          h('span', { class: 'menu-group-label', id: gid, role: 'presentation' }, x.group), x.items.map(item));
      }
      return item(x);
    }));
  }

  function open(focus = 'first') {
    render();
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', onOutside, true);
    const all = entries();
    (focus === 'last' ? all[all.length - 1] : all[0])?.focus();
  }

  function close(refocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (refocus) button.focus();
  }

  function choose(x) {
    close(true);
    x.onSelect?.();
  }

  function onOutside(e) {
    if (!el.contains(e.target)) close(false);
  }

  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  button.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      open(e.key === 'ArrowUp' ? 'last' : 'first');
    }
  });
  menu.addEventListener('keydown', (e) => {
    const all = entries();
    const at = all.indexOf(document.activeElement);
    const go = (i) => all[(i + all.length) % all.length]?.focus();
    if (e.key === 'ArrowDown') go(at + 1);
    else if (e.key === 'ArrowUp') go(at - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(all.length - 1);
    else if (e.key === 'Escape') close(true);
    else if (e.key === 'Tab') close(false);
    else return;
    if (e.key !== 'Tab') {
      e.preventDefault();
      e.stopPropagation();
    }
  });
  return { el, button, close: () => close(false) };
}
