// The composer's tools around the reply box of a conversation: the private-note mode (a note is
// seen by the team only and never sent to WhatsApp) with @mentions of teammates who see the
// conversation, and the suggestion list under the box (`@` in a note). conversation.js owns the
// box itself and sending replies; this module adds to it.
import { ApiError, del, get, patch, post, session } from './api.js';
import { can } from './capabilities.js';
import { mountEmoji } from './emoji.js';
import { snippet } from './message-parts.js';
import { t } from './i18n.js';
import { clear, field, h, modal, select, showError, toast } from './ui.js';
import { ACCEPT, attachmentProblem, fmtSize, matchCanned, matchPeople, mentionsIn, tokenAt } from './composer-text.js';

// A paperclip, drawn (no emoji font is needed to show it).
const CLIP_ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#0f766e" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="m21.44 11.05-9.19 9.19a6 6 0 0 1-8.49-8.49l8.57-8.57A4 4 0 1 1 18 8.84l-8.59 8.57a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>')}`;

/**
 * Adds the composer's tools to a conversation's reply box. `input` is its textarea, `form` its
 * form; `onNote(message)` is called with a written note; `onModeChange()` when the mode changes
 * (the reply box's enabled state depends on it). Returns { tools, popup, noteMode, submit,
 * destroy }: `submit()` writes a note when in note mode and resolves true, else resolves false
 * (the caller sends the reply).
 */
export function mountComposer({ conversationId, input, form, dropTarget, onNote, onSent, onModeChange }) {
  const st = { seq: 0, file: null, fileUrl: null, note: false, people: null, picked: [], items: [], active: 0, token: null, kind: null };
  const noteBtn = h('button', {
    class: 'btn btn-small composer-tool note-toggle', type: 'button', 'aria-pressed': 'false', title: t('composer.noteHint'),
    onclick: () => setNote(!st.note),
  }, t('composer.note'));
  const cannedBtn = h('button', { class: 'btn btn-small composer-tool canned-manage', type: 'button', title: t('canned.manage'), onclick: () => manageCanned() }, t('canned.title'));
  // An attachment: the picker, a drop on the conversation, or a pasted image; one at a time,
  // shown as a chip (a thumbnail for an image) with its remove button; the box's text is its caption.
  const fileInput = h('input', { type: 'file', accept: ACCEPT, class: 'sr-only', tabindex: '-1', 'aria-hidden': 'true',
    onchange: () => { if (fileInput.files?.[0]) attach(fileInput.files[0]); fileInput.value = ''; } });
  const attachBtn = h('button', { class: 'btn btn-small composer-tool attach-btn', type: 'button', title: t('composer.attach'), 'aria-label': t('composer.attach'),
    onclick: () => fileInput.click() }, h('img', { src: CLIP_ICON, alt: '', width: 18, height: 18 }));
  const chip = h('div', { class: 'attach-chip', hidden: true, 'aria-live': 'polite' });
  // Quote-reply: the message replied to, above the box, with its cancel button.
  const quoteBar = h('div', { class: 'quote-bar', hidden: true });
  const emoji = mountEmoji(input);
  const tools = h('div', { class: 'composer-tools' }, noteBtn, attachBtn, fileInput, emoji.button, cannedBtn, emoji.panel, chip, quoteBar);
  const popup = h('ul', { class: 'suggest', role: 'listbox', hidden: true, id: `suggest-${conversationId}`, 'aria-label': t('composer.suggestions') });
  input.setAttribute('aria-controls', popup.id);
  input.setAttribute('aria-autocomplete', 'list');

  function setNote(on) {
    st.note = on;
    noteBtn.setAttribute('aria-pressed', String(on));
    form.classList.toggle('note-mode', on);
    input.placeholder = on ? t('composer.notePlaceholder') : t('conv.reply');
    input.setAttribute('aria-label', on ? t('composer.notePlaceholder') : t('conv.reply'));
    if (!on) st.picked = [];
    close();
    onModeChange?.();
    input.focus();
  }

  async function canned(fresh = false) {
    if (!st.canned || fresh) st.canned = await get('/canned-replies');
    return st.canned;
  }

  async function people() {
    if (!st.people) st.people = await get(`/conversations/${conversationId}/mentionable`);
    return st.people;
  }

  function close() {
    popup.hidden = true;
    popup.replaceChildren();
    st.items = [];
    st.token = null;
    input.removeAttribute('aria-activedescendant');
  }

  function show(kind, token, items) {
    st.kind = kind;
    st.token = token;
    st.items = items;
    st.active = 0;
    if (!items.length) return close();
    render();
  }

  function render() {
    popup.replaceChildren(...st.items.map((it, i) => h('li', {
      id: `${popup.id}-${i}`, role: 'option', class: 'suggest-item', 'aria-selected': String(i === st.active),
      onpointerdown: (e) => { e.preventDefault(); choose(i); },
    }, it.label, it.detail ? h('span', { class: 'suggest-detail' }, it.detail) : null)));
    popup.hidden = false;
    input.setAttribute('aria-activedescendant', `${popup.id}-${st.active}`);
    popup.children[st.active]?.scrollIntoView?.({ block: 'nearest' });
  }

  function choose(i) {
    const it = st.items[i];
    const tok = st.token;
    if (!it || !tok) return;
    const caret = input.selectionStart ?? input.value.length;
    const text = it.insert;
    input.value = input.value.slice(0, tok.start) + text + input.value.slice(caret);
    const at = tok.start + text.length;
    input.setSelectionRange(at, at);
    if (it.person) st.picked.push(it.person);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.focus();
  }

  /** Looks at what is typed: `@name` in a note opens the teammates to mention. */
  async function lookup() {
    // Only the newest lookup may change the list: an older one answering late is dropped.
    const seq = ++st.seq;
    const caret = input.selectionStart ?? input.value.length;
    const mention = st.note ? tokenAt(input.value, caret, '@') : null;
    if (mention) {
      let list;
      try {
        list = await people();
      } catch {
        return close();
      }
      const now = tokenAt(input.value, input.selectionStart ?? input.value.length, '@');
      if (seq !== st.seq || !now || now.start !== mention.start) return;
      return show('mention', now, matchPeople(list, now.query).slice(0, 8).map((p) => ({
        label: `@${p.display_name}`, insert: `@${p.display_name} `, person: p,
      })));
    }
    // `/shortcut` (replies only: a note is the team's own words) opens the canned replies.
    const slash = st.note ? null : tokenAt(input.value, caret, '/');
    if (slash) {
      let list;
      try {
        list = await canned();
      } catch {
        return close();
      }
      const now = tokenAt(input.value, input.selectionStart ?? input.value.length, '/');
      if (seq !== st.seq || !now || now.start !== slash.start) return;
      return show('canned', now, matchCanned(list, now.query).slice(0, 8).map((c) => ({
        label: `/${c.shortcut}`, detail: c.body, insert: c.body,
      })));
    }
    close();
  }

  // The canned replies: the user's own and (admins) the organisation's, added, changed, deleted.
  async function manageCanned() {
    const admin = can('administer');
    const m = modal(t('canned.title'), { wide: true });
    const list = h('ul', { class: 'canned-list' });
    const shortcut = h('input', { name: 'shortcut', required: true, maxlength: 32, pattern: '[a-z0-9][a-z0-9_\\-]{0,31}', autocapitalize: 'off', spellcheck: false });
    const body = h('textarea', { name: 'body', required: true, maxlength: 4096, rows: 3 });
    const scope = admin ? select([{ value: 'personal', label: t('canned.personal') }, { value: 'tenant', label: t('canned.tenant') }], 'personal', { name: 'scope' }) : null;
    const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, t('canned.add'));
    let editing = null;
    const form = h('form', { class: 'stack canned-form' },
      field(t('canned.shortcut'), shortcut, t('canned.shortcutHint')), field(t('canned.body'), body),
      scope ? field(t('canned.scope'), scope) : null,
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.close')), submit));
    async function refresh() {
      const items = await canned(true);
      clear(list, items.length ? items.map((c) => {
        const mayEdit = c.scope === 'personal' || admin;
        return h('li', { class: 'canned-item' },
          h('div', { class: 'canned-text' }, h('strong', {}, `/${c.shortcut}`), ' ',
            h('span', { class: 'muted small' }, t(c.scope === 'tenant' ? 'canned.tenant' : 'canned.personal')),
            h('div', { class: 'small' }, c.body)),
          mayEdit ? h('div', { class: 'canned-actions' },
            h('button', { class: 'btn btn-small', type: 'button', onclick: () => edit(c) }, t('canned.edit')),
            h('button', { class: 'btn btn-small', type: 'button', onclick: () => remove(c) }, t('canned.delete'))) : null);
      }) : h('li', { class: 'muted' }, t('canned.none')));
    }
    function edit(c) {
      editing = c;
      shortcut.value = c.shortcut;
      body.value = c.body;
      if (scope) { scope.value = c.scope; scope.disabled = true; }
      submit.textContent = t('common.save');
      shortcut.focus();
    }
    async function remove(c) {
      try {
        await del(`/canned-replies/${c.canned_reply_id}`);
        await refresh();
      } catch (e) {
        showError(e);
      }
    }
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        if (editing) await patch(`/canned-replies/${editing.canned_reply_id}`, { shortcut: shortcut.value, body: body.value });
        else await post('/canned-replies', { shortcut: shortcut.value, body: body.value, scope: scope?.value ?? 'personal' });
        editing = null;
        shortcut.value = '';
        body.value = '';
        if (scope) scope.disabled = false;
        submit.textContent = t('canned.add');
        toast(t('common.saved'));
        await refresh();
      } catch (err) {
        showError(err);
      }
    });
    m.body.append(list, h('h3', {}, t('canned.new')), form);
    refresh().catch(showError);
  }

  input.addEventListener('input', () => { lookup(); });
  // Leaving the box closes the list (unless focus came back meanwhile, e.g. from a tool).
  input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) close(); }, 150));
  // Registered before the reply box's own Enter handler: with the list open, the arrows move in
  // it, Enter or Tab chooses, Escape closes it.
  input.addEventListener('keydown', (e) => {
    if (popup.hidden || !st.items.length) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      st.active = (st.active + (e.key === 'ArrowDown' ? 1 : st.items.length - 1)) % st.items.length;
      render();
    } else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
      e.preventDefault();
      e.stopImmediatePropagation();
      choose(st.active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  });

  function attach(file) {
    const bad = attachmentProblem(file);
    if (bad) {
      toast(bad.problem === 'type' ? t('composer.badType', { name: file.name }) : t('composer.tooLarge', { name: file.name, limit: fmtSize(bad.limit) }), 'error');
      return;
    }
    if (st.note) setNote(false);
    detach();
    st.file = file;
    const image = file.type.startsWith('image/');
    if (image) st.fileUrl = URL.createObjectURL(file);
    clear(chip,
      image ? h('img', { class: 'attach-thumb', src: st.fileUrl, alt: '' }) : h('img', { class: 'attach-icon', src: CLIP_ICON, alt: '', width: 18, height: 18 }),
      h('span', { class: 'attach-name' }, file.name || t('composer.pasted')),
      h('span', { class: 'attach-size muted small' }, fmtSize(file.size)),
      h('button', { class: 'icon-btn attach-remove', type: 'button', 'aria-label': t('composer.removeAttachment'), onclick: () => { detach(); input.focus(); } }, '×'));
    chip.hidden = false;
    form.classList.add('has-file');
    input.placeholder = t('composer.caption');
    onModeChange?.();
    input.focus();
  }

  function detach() {
    if (st.fileUrl) URL.revokeObjectURL(st.fileUrl);
    st.file = null;
    st.fileUrl = null;
    chip.hidden = true;
    chip.replaceChildren();
    form.classList.remove('has-file');
    input.placeholder = st.note ? t('composer.notePlaceholder') : t('conv.reply');
    onModeChange?.();
  }

  // Uploads the file (multipart, with the session's token) and sends it with the caption.
  async function sendFile() {
    const body = new FormData();
    body.append('file', st.file, st.file.name || 'image.png');
    const headers = { accept: 'application/json' };
    const s = session();
    if (s) headers.authorization = `Bearer ${s.token}`;
    let r;
    try {
      r = await fetch('/api/v1/media', { method: 'POST', headers, body });
    } catch {
      throw new ApiError(0, 'network', 'network');
    }
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      const e = data?.error ?? {};
      const code = e.code ?? `http_${r.status}`;
      // Said in the user's language: the type or size WhatsApp refuses.
      const message = code === 'media_too_large' || r.status === 413 ? t('composer.tooLargeServer', { name: st.file.name })
        : code === 'unsupported_media_type' ? t('composer.badType', { name: st.file.name }) : e.message ?? r.statusText;
      throw new ApiError(r.status, code, message, e.field);
    }
    const caption = input.value.trim();
    const m = await post(`/conversations/${conversationId}/messages`, { media: caption ? { id: data.id, caption } : { id: data.id }, ...replyTo() });
    detach();
    clearQuote();
    onSent?.(m);
  }

  // Drop a file on the conversation; paste an image into the box.
  const onDragOver = (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
    e.preventDefault();
    dropTarget?.classList.add('dropping');
  };
  const onDragLeave = (e) => { if (e.target === dropTarget) dropTarget.classList.remove('dropping'); };
  const onDrop = (e) => {
    const file = e.dataTransfer?.files?.[0];
    dropTarget?.classList.remove('dropping');
    if (!file) return;
    e.preventDefault();
    attach(file);
  };
  dropTarget?.addEventListener('dragover', onDragOver);
  dropTarget?.addEventListener('dragleave', onDragLeave);
  dropTarget?.addEventListener('drop', onDrop);
  input.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (!file) return;
    e.preventDefault();
    attach(file);
  });

  function quote(m) {
    if (st.note) setNote(false);
    st.quote = m;
    quoteBar.replaceChildren(
      h('span', { class: 'quote-bar-label' }, t('composer.replyingTo')),
      h('span', { class: 'quote-bar-text' }, snippet(m, 80)),
      h('button', { class: 'icon-btn quote-cancel', type: 'button', 'aria-label': t('composer.cancelQuote'), onclick: () => { clearQuote(); input.focus(); } }, '×'));
    quoteBar.hidden = false;
    input.focus();
  }

  function replyTo() {
    return st.quote && !st.note ? { reply_to: st.quote.message_id } : {};
  }

  function clearQuote() {
    st.quote = null;
    quoteBar.hidden = true;
    quoteBar.replaceChildren();
  }

  async function submit() {
    if (st.file) {
      await sendFile();
      return true;
    }
    if (!st.note) return false;
    const body = input.value.trim();
    if (!body) return true;
    // A refusal (`mention_not_visible` names who in `params.names`) is worded by web/errors.js.
    const m = await post(`/conversations/${conversationId}/notes`, { body, mentions: mentionsIn(body, st.picked) });
    st.picked = [];
    onNote?.(m);
    return true;
  }

  return {
    tools,
    popup,
    noteMode: () => st.note,
    hasFile: () => Boolean(st.file),
    quote,
    clearQuote,
    replyTo,
    submit,
    destroy() {
      close();
      emoji.destroy();
      detach();
      dropTarget?.removeEventListener('dragover', onDragOver);
      dropTarget?.removeEventListener('dragleave', onDragLeave);
      dropTarget?.removeEventListener('drop', onDrop);
    },
  };
}
