// API errors, media placeholders and call outcomes are worded in the reader's language
// (web/errors.js, web/i18n.js): codes from the server, text from the web app
// (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// i18n.js sets the document's language when it changes.
globalThis.document ??= { documentElement: {} };
const { MESSAGES, setLang, messagePreview, callOutcome } = await import('../../web/i18n.js');
const { apiErrorText } = await import('../../web/errors.js');

function rustFiles(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? rustFiles(p) : p.endsWith('.rs') ? [p] : [];
  });
}

test('every error code the server can answer has a message in every language', () => {
  const codes = new Set();
  for (const f of [...rustFiles('crates/platica-http/src'), ...rustFiles('crates/platica-store/src')]) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/StatusCode::[A-Z_]+,\s*"([a-z_]+)"/g)) codes.add(m[1]);
    for (const m of src.matchAll(/\bcode:\s*"([a-z_]+)"/g)) codes.add(m[1]);
  }
  assert.ok(codes.size > 30 && codes.has('invalid_input') && codes.has('too_many_attempts'), [...codes].join());
  const missing = [...codes].filter((c) => !(`api.${c}` in MESSAGES.en) || !(`api.${c}` in MESSAGES.es));
  assert.deepEqual(missing, [], 'codes without a translation');
});

test('every validation reason the domain names has a message', () => {
  const src = readFileSync('crates/platica-domain/src/validate.rs', 'utf8');
  const reasons = [...src.matchAll(/Reason::\w+ => "([a-z_]+)"/g)].map((m) => m[1]).filter((r) => r !== 'invalid');
  assert.ok(reasons.length >= 7, reasons.join());
  assert.deepEqual(reasons.filter((r) => !(`api.invalid_input.${r}` in MESSAGES.en)), []);
});

test('a Spanish reader never sees the server\'s English sentence', () => {
  setLang('es');
  const cases = [
    [{ code: 'unauthorized', reason: 'wrong_credentials', message: 'wrong e-mail or password' }, 'Correo o contraseña incorrectos.'],
    [{ code: 'invalid_input', reason: 'too_long', field: 'name', params: { max: '200', has: '230' }, message: 'name: must be at most 200 characters, has 230' }, 'Como máximo 200 caracteres.'],
    [{ code: 'invalid_input', reason: 'invalid', field: 'email', message: 'email: whatever' }, 'Revisa Correo: el servidor no lo aceptó.'],
    [{ code: 'too_many_attempts', params: { retry_after: '30' }, message: 'too many login attempts' }, 'Demasiados intentos de acceso: inténtalo de nuevo en 30 s.'],
    [{ code: 'conflict', field: 'email', message: 'that e-mail is taken' }, 'Correo ya está en uso.'],
    [{ code: 'something_new', message: 'an English sentence' }, 'Algo salió mal (something_new).'],
    [{ code: 'network' }, MESSAGES.es['common.networkError']],
  ];
  for (const [e, want] of cases) assert.equal(apiErrorText(e), want, JSON.stringify(e));
});

test('an English reader gets the finer translation, else the server\'s own sentence', () => {
  setLang('en');
  assert.equal(apiErrorText({ code: 'unauthorized', reason: 'wrong_credentials', message: 'wrong e-mail or password' }), 'Wrong e-mail or password.');
  assert.equal(apiErrorText({ code: 'invalid_input', reason: 'invalid', field: 'language', message: 'language: must be a language code such as es_MX' }),
    'language: must be a language code such as es_MX');
  assert.equal(apiErrorText({ code: 'forbidden' }), 'You are not allowed to do that.');
});

test('media placeholders and orders read in the reader\'s language; text stays as written', () => {
  setLang('es');
  assert.equal(messagePreview('[image] mi casa'), 'Foto · mi casa');
  assert.equal(messagePreview('[audio]'), 'Audio');
  assert.equal(messagePreview('[document] cotizacion.pdf'), 'Documento · cotizacion.pdf');
  assert.equal(messagePreview('[order] 3 item(s), 120.00 MXN'), 'Pedido · 3 artículos, 120.00 MXN');
  assert.equal(messagePreview('[order] 1 item(s)'), 'Pedido · 1 artículo');
  assert.equal(messagePreview('[brackets] are just text'), '[brackets] are just text');
  assert.equal(messagePreview('hola'), 'hola');
  assert.equal(messagePreview(null), '');
  setLang('en');
  assert.equal(messagePreview('[image] my house'), 'Photo · my house');
});

test('call outcomes: known codes are translated, free text is shown as given', () => {
  setLang('es');
  assert.equal(callOutcome('callback_requested'), 'Pidió que le llamen');
  assert.equal(callOutcome('Quiere cotización'), 'Quiere cotización');
  setLang('en');
  assert.equal(callOutcome('callback_requested'), 'Call back requested');
});
