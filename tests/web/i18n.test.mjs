// Every message exists in every language, with the same placeholders (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../../web/i18n-en.js';
import { es } from '../../web/i18n-es.js';

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('Spanish has exactly the English keys', () => {
  const missing = Object.keys(en).filter((k) => !(k in es));
  const extra = Object.keys(es).filter((k) => !(k in en));
  assert.deepEqual(missing, [], 'keys without a Spanish message');
  assert.deepEqual(extra, [], 'Spanish keys no English message has');
});

test('each translation keeps the placeholders of its English message', () => {
  const wrong = Object.keys(en)
    .filter((k) => k in es)
    .filter((k) => placeholders(en[k]).join() !== placeholders(es[k]).join())
    .map((k) => `${k}: en {${placeholders(en[k])}} es {${placeholders(es[k])}}`);
  assert.deepEqual(wrong, []);
});

test('no message is empty', () => {
  for (const [lang, table] of Object.entries({ en, es })) {
    for (const [k, v] of Object.entries(table)) assert.ok(typeof v === 'string' && v.trim() !== '', `${lang} ${k} is empty`);
  }
});
