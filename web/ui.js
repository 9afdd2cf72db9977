// Small DOM helpers shared by the views: element building, toasts, dialogs, error messages.
import { apiErrorText } from './errors.js';
import { t } from './i18n.js';

/**
 * Builds an element: h('button', { class: 'x', onclick: fn, 'aria-label': '…' }, 'text', child).
 * Strings become text nodes (never HTML); null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // Through the CSSOM: the Content-Security-Policy allows no inline style attributes.
    else if (k === 'style') el.style.cssText = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The message to show a person for an error of the API (or of the network), in their language. */
export function errorText(e) {
  if (e instanceof Error && !('code' in e)) return t('common.error', { message: String(e.message ?? e) });
  if (typeof e !== 'object' || e === null) return t('common.error', { message: String(e) });
  return apiErrorText(e);
}

let toastRegion;
/** Shows a short message in the live region (announced by screen readers). */
export function toast(text, kind = 'info') {
  if (!toastRegion) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const el = h('div', { class: `toast toast-${kind}` }, text);
  toastRegion.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}

export function showError(e) {
  toast(errorText(e), 'error');
}

/**
 * A modal dialog (native <dialog>): returns { dialog, body, close }. Escape and the close button
 * close it; focus returns to where it was.
 */
export function modal(title, { onClose, wide } = {}) {
  const previous = document.activeElement;
  const body = h('div', { class: 'dialog-body' });
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = h(
    'dialog',
    { class: `dialog${wide ? ' dialog-wide' : ''}`, 'aria-labelledby': titleId },
    h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title),
      h('button', { class: 'icon-btn', type: 'button', 'aria-label': t('common.close'), onclick: () => close() }, '×')),
    body,
  );
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    dialog.close();
    dialog.remove();
    onClose?.();
    previous?.focus?.();
  };
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, close };
}

/** A yes/no question in a dialog; resolves to true or false. */
export function confirmDialog(text, yes = t('common.yes')) {
  return new Promise((resolve) => {
    let answered = false;
    const m = modal(t('app.name'), { onClose: () => answered || resolve(false) });
    const ok = h('button', { class: 'btn btn-primary', type: 'button', onclick: () => { answered = true; m.close(); resolve(true); } }, yes);
    m.body.append(
      h('p', {}, text),
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')), ok),
    );
    ok.focus();
  });
}

/** A labelled form field: h('label') wrapping a caption and the control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control,
    hint ? h('span', { class: 'field-hint' }, hint) : null);
}

/** A <select> of options [{ value, label }]. */
export function select(options, value, attrs = {}) {
  const el = h('select', attrs, options.map((o) => h('option', { value: String(o.value) }, o.label)));
  el.value = String(value ?? '');
  return el;
}

/** Initials for an avatar. */
export function initials(name) {
  const parts = String(name ?? '?').trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

/** A stable hue for a name, so each avatar keeps its colour. */
export function hue(text) {
  let n = 0;
  for (const c of String(text)) n = (n * 31 + c.codePointAt(0)) % 360;
  return n;
}

/** Marks the form's control for `field` invalid and shows the API's message under it. */
export function fieldError(form, e) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  const control = e?.field ? form.querySelector(`[name="${CSS.escape(e.field)}"]`) : null;
  const msg = h('p', { class: 'field-error', role: 'alert' }, errorText(e));
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    // Under the control (append returns nothing: `?.append(...) ?? prepend` moved it to the top).
    const wrap = control.closest('.field');
    if (wrap) wrap.append(msg);
    else form.prepend(msg);
    control.focus();
  } else {
    form.prepend(msg);
  }
}
