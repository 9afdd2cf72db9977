// The composer's text helpers (web/composer-text.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachmentProblem, fmtSize, fold, kindOf, matchCanned, matchPeople, mentionsIn, tokenAt } from '../../web/composer-text.js';

test('the token being typed starts at the start or after a space', () => {
  assert.deepEqual(tokenAt('@Co', 3, '@'), { start: 0, query: 'Co' });
  assert.deepEqual(tokenAt('hola @Coord B', 13, '@'), { start: 5, query: 'Coord B' });
  assert.equal(tokenAt('ana@mail', 8, '@'), null, 'an e-mail address is no mention');
  assert.equal(tokenAt('hola', 4, '@'), null);
  assert.equal(tokenAt('@a\nb', 4, '@'), null, 'a mention does not span lines');
  assert.deepEqual(tokenAt('/prec', 5, '/'), { start: 0, query: 'prec' });
  assert.equal(tokenAt('/prec io', 8, '/'), null, 'a shortcut has no spaces');
  assert.equal(tokenAt('a/b', 3, '/'), null);
});

test('people match by the start of their name or of a word of it, accents aside', () => {
  const people = [{ user_id: 1, display_name: 'Coord BOOM' }, { user_id: 2, display_name: 'Sofía' }, { user_id: 3, display_name: 'Ana' }];
  assert.deepEqual(matchPeople(people, 'boo').map((p) => p.user_id), [1]);
  assert.deepEqual(matchPeople(people, 'sofi').map((p) => p.user_id), [2]);
  assert.deepEqual(matchPeople(people, '').length, 3);
  assert.equal(fold('Sofía'), 'sofia');
});

test('only mentions still in the text are sent, once each', () => {
  const picked = [{ user_id: 1, display_name: 'Coord BOOM' }, { user_id: 3, display_name: 'Ana' }, { user_id: 1, display_name: 'Coord BOOM' }];
  assert.deepEqual(mentionsIn('@Coord BOOM mira', picked), [1]);
  assert.deepEqual(mentionsIn('nada', picked), []);
});

test('canned replies: shortcut prefix first, then text matches; personal ones win', () => {
  const list = [
    { canned_reply_id: 1, scope: 'tenant', shortcut: 'precio', body: 'El precio es…' },
    { canned_reply_id: 2, scope: 'personal', shortcut: 'hola', body: 'Hola, ¿qué precio buscas?' },
    { canned_reply_id: 3, scope: 'tenant', shortcut: 'hola', body: 'Hola (de todos)' },
    { canned_reply_id: 4, scope: 'tenant', shortcut: 'envio', body: 'Enviamos en 3 días' },
  ];
  assert.deepEqual(matchCanned(list, 'pre').map((c) => c.canned_reply_id), [1, 2]);
  assert.deepEqual(matchCanned(list, 'ho').map((c) => c.canned_reply_id), [2]);
  assert.deepEqual(matchCanned(list, '').map((c) => c.canned_reply_id), [1, 2, 4]);
  assert.deepEqual(matchCanned(list, 'DIAS').map((c) => c.canned_reply_id), [4]);
});

test('attachments: what WhatsApp sends, within its size limits', () => {
  const MB = 1024 * 1024;
  assert.equal(attachmentProblem({ type: 'image/png', size: 4 * MB }), null);
  assert.deepEqual(attachmentProblem({ type: 'image/png', size: 5 * MB + 1 }), { problem: 'size', limit: 5 * MB });
  assert.deepEqual(attachmentProblem({ type: 'image/gif', size: 10 }), { problem: 'type' });
  assert.deepEqual(attachmentProblem({ type: '', size: 10 }), { problem: 'type' });
  assert.equal(attachmentProblem({ type: 'application/pdf', size: 90 * MB }), null);
  assert.equal(kindOf('audio/ogg; codecs=opus'), 'audio');
  assert.equal(fmtSize(512), '512 B');
  assert.equal(fmtSize(1536), '1.5 KB');
  assert.equal(fmtSize(5 * MB), '5.0 MB');
});
