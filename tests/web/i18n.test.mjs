// Every message exists in every language, with the same placeholders (`node --test tests/web`).
// A message that depends on a count is an object of plural forms (`{ one, other }`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../../web/i18n-en.js';
import { es } from '../../web/i18n-es.js';

const TABLES = { en, es };
/** Messages whose {n} is not a count of things: a page or parameter number, and "{n} unread",
 * which reads the same for one and many in both languages. */
const NOT_COUNTS = new Set(['campaigns.param', 'campaigns.page', 'inbox.unreadBadge']);
const placeholders = (text) => [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
/** Every form of a message: the string itself, or each plural form. */
const forms = (message) => (typeof message === 'string' ? [message] : Object.values(message));

test('Spanish has exactly the English keys', () => {
  const missing = Object.keys(en).filter((k) => !(k in es));
  const extra = Object.keys(es).filter((k) => !(k in en));
  assert.deepEqual(missing, [], 'keys without a Spanish message');
  assert.deepEqual(extra, [], 'Spanish keys no English message has');
});

test('each translation keeps the placeholders of its English message, in every form', () => {
  const wrong = [];
  for (const k of Object.keys(en).filter((k) => k in es)) {
    const want = placeholders(forms(en[k])[0]).join();
    for (const [lang, table] of Object.entries(TABLES)) {
      for (const form of forms(table[k])) {
        if (placeholders(form).join() !== want) wrong.push(`${lang} ${k}: {${placeholders(form)}}, want {${want}}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test('no message is empty', () => {
  for (const [lang, table] of Object.entries(TABLES)) {
    for (const [k, v] of Object.entries(table)) {
      assert.ok(typeof v === 'string' || (v && typeof v === 'object'), `${lang} ${k} is neither text nor plural forms`);
      for (const form of forms(v)) assert.ok(typeof form === 'string' && form.trim() !== '', `${lang} ${k} has an empty form`);
    }
  }
});

test('plural messages have every form their language uses, and take their count as {n}', () => {
  for (const [lang, table] of Object.entries(TABLES)) {
    // The categories this language's rules give for small and large counts.
    const rules = new Intl.PluralRules(lang);
    const used = new Set([0, 1, 2, 5, 21, 1000000].map((n) => rules.select(n)));
    for (const [k, v] of Object.entries(table)) {
      if (typeof v === 'string') {
        // A count in a plain message reads "1 comments": it must be plural forms.
        assert.ok(!/\{n\}/.test(v) || NOT_COUNTS.has(k), `${lang} ${k} has a count {n} but no plural forms: ${v}`);
        continue;
      }
      assert.ok('other' in v, `${lang} ${k} has no "other" form`);
      for (const c of used) if (c !== 'many') assert.ok(c in v, `${lang} ${k} lacks the "${c}" form`);
      for (const form of forms(v)) assert.match(form, /\{n\}/, `${lang} ${k}: a plural form without {n}`);
    }
  }
});

test('counts read right in both languages, and a day heading is capitalised once', async () => {
  globalThis.document ??= { documentElement: {} }; // setLang sets the page's lang attribute
  const { t, setLang, fmtDay } = await import('../../web/i18n.js');
  setLang('en');
  assert.equal(t('tickets.commentCount', { n: 1 }), '1 comment');
  assert.equal(t('tickets.commentCount', { n: 2 }), '2 comments');
  assert.equal(t('inbox.counts', { n: 1, unread: 0 }), '1 conversation · 0 unread');
  assert.equal(t('error.gaveUp', { n: 1 }), 'Not sent: gave up after 1 attempt.');
  assert.equal(fmtDay('2026-10-31T12:00:00Z'), 'Saturday, October 31');
  setLang('es');
  assert.equal(t('tickets.commentCount', { n: 1 }), '1 comentario');
  assert.equal(t('tickets.commentCount', { n: 1000000 }), '1,000,000 comentarios'.replace(/,/g, '.'));
  assert.equal(t('bulk.confirm', { n: 1 }), '¿Mover 1 prospecto?');
  assert.equal(fmtDay('2026-10-31T12:00:00Z'), 'Sábado, 31 de octubre');
  setLang('en');
});
