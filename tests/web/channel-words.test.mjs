// The channels screen's words (web/channel-words.js), in English and Spanish: Graph's quality
// ratings and messaging limit tiers, failed connection tests by Graph's code and by reason, and
// the start of the reader's day (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';

// i18n.js sets the document's language when it changes.
globalThis.document ??= { documentElement: {} };
const { setLang } = await import('../../web/i18n.js');
const { limitWords, localMidnight, newVerifyToken, qualityWords, testFailureText } = await import('../../web/channel-words.js');

test('quality ratings and messaging limits read as words in both languages', () => {
  setLang('en');
  assert.deepEqual(qualityWords('GREEN'), { text: 'High', cls: 'pill-yes' });
  assert.deepEqual(qualityWords('yellow'), { text: 'Medium', cls: 'pill-warn' });
  assert.deepEqual(qualityWords('RED'), { text: 'Low', cls: 'pill-failed' });
  assert.deepEqual(qualityWords('NEW_RATING'), { text: 'NEW_RATING', cls: 'pill-no' }, 'an unknown rating is shown as Graph says it');
  assert.equal(qualityWords(null), null);
  assert.equal(limitWords('TIER_1K'), '1,000 people a day');
  assert.equal(limitWords('TIER_250'), '250 people a day');
  assert.equal(limitWords('TIER_100K'), '100,000 people a day');
  assert.equal(limitWords('TIER_UNLIMITED'), 'Unlimited');
  assert.equal(limitWords('SOMETHING_ELSE'), 'SOMETHING_ELSE');
  assert.equal(limitWords(null), null);
  setLang('es');
  assert.equal(qualityWords('GREEN').text, 'Alta');
  assert.equal(limitWords('TIER_1K'), '1000 personas al día');
  assert.equal(limitWords('TIER_10K'), '10.000 personas al día');
  assert.equal(limitWords('TIER_UNLIMITED'), 'Ilimitado');
  setLang('en');
});

test('a failed test is worded by Graph code, else by reason, never as raw English in Spanish', () => {
  setLang('en');
  const token = { reason: 'graph_refused', http_status: 401, graph_code: 190, message: 'Invalid OAuth access token' };
  assert.match(testFailureText(token), /^Meta refused the access token/);
  assert.match(testFailureText({ reason: 'graph_refused', http_status: 404, graph_code: 100 }), /does not know this phone number id/);
  assert.equal(testFailureText({ reason: 'graph_refused', http_status: 500, graph_code: 131000 }), 'Meta refused the request (code 131000, HTTP 500).');
  assert.match(testFailureText({ reason: 'timeout' }), /did not answer in time/);
  assert.match(testFailureText({ reason: 'unreachable' }), /cannot reach/);
  assert.equal(testFailureText({ reason: 'something_new' }), 'The test did not finish.');
  setLang('es');
  assert.match(testFailureText(token), /^Meta rechazó el token de acceso/);
  assert.match(testFailureText({ reason: 'timeout' }), /no respondió a tiempo/);
  setLang('en');
});

test("the reader's day starts at their midnight; verify tokens are fresh", () => {
  const midnight = new Date(localMidnight(new Date(2026, 11, 7, 15, 30)));
  assert.deepEqual([midnight.getHours(), midnight.getMinutes(), midnight.getDate()], [0, 0, 7]);
  const a = newVerifyToken();
  assert.match(a, /^[0-9a-f]{36}$/);
  assert.notEqual(a, newVerifyToken());
});

test('linked-device session states read as words', async () => {
  const { sessionWords } = await import('../../web/channel-words.js');
  setLang('en');
  assert.equal(sessionWords('connected'), 'Connected');
  assert.equal(sessionWords(null), 'Not started yet');
  assert.equal(sessionWords('brand_new_state'), 'brand_new_state');
  setLang('es');
  assert.equal(sessionWords('open_circuit'), 'Con fallas: en pausa tras errores de conexión repetidos');
  setLang('en');
});
