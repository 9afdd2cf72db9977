// The global search (#/search/<q>): prospects by any word of the name or by phone (the live
// inbox's `q`: accents and case aside, local or international numbers) and messages and notes by
// their words (`/search/messages`: full text, Spanish and English word forms, ranked). Only what
// the reader sees comes back; each result opens its conversation. A snippet's matching words
// come as marked segments and are shown in <mark> elements built as text, never as HTML.
import { get, query } from './api.js';
import { fmtShort, messagePreview, prospectName, t } from './i18n.js';
import { navigate } from './router.js';
import { clear, h, showError } from './ui.js';
import { searchHash, snippetRuns } from './search-text.js';

/** Mounts the search page in `view`, searching `q` at once when given; returns its destroy. */
export function mountSearch(view, q) {
  let alive = true;
  let seq = 0;
  const input = h('input', {
    type: 'search', name: 'q', value: q, maxlength: 100, autocomplete: 'off',
    placeholder: t('search.placeholder'), 'aria-label': t('search.placeholder'),
  });
  const form = h('form', { class: 'search-form', role: 'search' },
    input, h('button', { class: 'btn btn-primary', type: 'submit' }, t('search.go')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    navigate(searchHash(input.value.trim()));
  });
  const results = h('div', { class: 'search-results', 'aria-live': 'polite' });
  const root = h('section', { class: 'search-page', 'aria-labelledby': 'search-title' },
    h('h1', { id: 'search-title' }, t('search.title')), form, results);
  clear(view, root);
  input.focus();

  async function run(text) {
    const mine = ++seq;
    if (!text) {
      clear(results, h('p', { class: 'muted' }, t('search.hint')));
      return;
    }
    clear(results, h('p', { class: 'muted' }, t('search.loading')));
    try {
      const [convs, msgs] = await Promise.all([
        get(`/conversations${query({ q: text, limit: 20 })}`),
        get(`/search/messages${query({ q: text, limit: 20 })}`),
      ]);
      if (!alive || mine !== seq) return;
      clear(results,
        section('search-conversations', t('search.conversations', { n: convs.total }), convs.items.map(conversationItem)),
        section('search-messages', t('search.messages'), msgs.items.map(messageItem)));
    } catch (e) {
      if (!alive || mine !== seq) return;
      clear(results);
      showError(e);
    }
  }

  function section(cls, title, items) {
    return h('section', { class: `search-section ${cls}` },
      h('h2', {}, title),
      items.length ? h('ul', { class: 'search-list' }, items) : h('p', { class: 'muted' }, t('search.none')));
  }

  function conversationItem(c) {
    return h('li', {},
      h('a', { class: 'search-hit', href: `#/c/${c.conversation_id}` },
        h('span', { class: 'search-hit-name' }, prospectName(c.prospect_name)),
        h('span', { class: 'search-hit-meta' }, c.prospect_phone ?? ''),
        c.last_message_preview ? h('span', { class: 'search-hit-text' }, messagePreview(c.last_message_preview)) : null));
  }

  function messageItem(m) {
    const text = h('span', { class: 'search-hit-text' },
      snippetRuns(m.snippet).map((r) => (r.hit ? h('mark', {}, r.text) : r.text)));
    return h('li', {},
      h('a', { class: 'search-hit', href: `#/c/${m.conversation_id}/m/${m.message_id}`, dataset: { message: String(m.message_id) } },
        h('span', { class: 'search-hit-name' }, prospectName(m.prospect_name),
          m.kind === 'note' ? h('span', { class: 'search-note' }, t('search.note')) : null),
        h('span', { class: 'search-hit-meta' }, fmtShort(m.created_at)),
        text));
  }

  run(q);
  return {
    destroy() {
      alive = false;
    },
  };
}
