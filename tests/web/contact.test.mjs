// The contact panel's pure parts: controls by kind, PATCH bodies, and the reader's-language
// explanation of a refused value (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contactError, inputType, patchBody } from '../../web/contact.js';
import { en } from '../../web/i18n-en.js';
import { es } from '../../web/i18n-es.js';

const defs = [
  { key: 'budget', kind: 'number', options: [] },
  { key: 'visit', kind: 'date', options: [] },
  { key: 'house', kind: 'select', options: ['casa', 'depto'] },
  { key: 'source', kind: 'text', options: [] },
];
const err = (field, status = 422) => ({ status, field, code: 'invalid_input', message: `${field}: bad` });

test('each kind gets its control', () => {
  assert.equal(inputType('number'), 'number');
  assert.equal(inputType('date'), 'date');
  assert.equal(inputType('text'), 'text');
});

test('a blank value clears, a name is trimmed, custom values go under custom', () => {
  assert.deepEqual(patchBody('email', '  ', false), { email: null });
  assert.deepEqual(patchBody('notes', ' hola ', false), { notes: 'hola' });
  assert.deepEqual(patchBody('name', ' Lucía ', false), { name: 'Lucía' });
  assert.deepEqual(patchBody('budget', '1500', true), { custom: { budget: '1500' } });
  assert.deepEqual(patchBody('visit', '', true), { custom: { visit: null } });
});

test('refusals are explained by field and kind, in both languages', () => {
  assert.equal(contactError(err('email'), defs).key, 'contact.err.email');
  assert.equal(contactError(err('custom.budget'), defs).key, 'contact.err.number');
  assert.equal(contactError(err('custom.visit'), defs).key, 'contact.err.date');
  assert.deepEqual(contactError(err('custom.house'), defs), { key: 'contact.err.select', vars: { options: 'casa, depto' } });
  assert.equal(contactError(err('custom.source'), defs).key, 'contact.err.text');
  assert.equal(contactError(err('custom.gone'), defs).key, 'contact.err.unknownField');
  assert.equal(contactError(err('email', 404), defs), null);
  assert.equal(contactError(err('stage'), defs), null);
  for (const f of ['email', 'notes', 'name', 'custom.budget', 'custom.visit', 'custom.house', 'custom.source', 'custom.gone']) {
    const { key } = contactError(err(f), defs);
    assert.ok(en[key] && es[key], `${key} in both languages`);
    assert.notEqual(en[key], es[key], `${key} is translated`);
  }
});

test('a field key is suggested from its label as the API takes keys', async () => {
  const { fieldKey } = await import('../../web/contact.js');
  assert.equal(fieldKey('Fecha de visita'), 'fecha_de_visita');
  assert.equal(fieldKey('  Presupuesto (MXN)  '), 'presupuesto_mxn');
  assert.equal(fieldKey('Año modelo'), 'ano_modelo');
  assert.equal(fieldKey('2º vehículo'), 'f_2_vehiculo');
  assert.equal(fieldKey('¿?'), '');
  const long = fieldKey('a'.repeat(39) + ' b c');
  assert.ok(long.length <= 40 && /^[a-z][a-z0-9_]*[a-z0-9]$/.test(long), long);
});

test('select options are read one per line', async () => {
  const { optionLines } = await import('../../web/contact.js');
  assert.deepEqual(optionLines(' Contado \n\nCrédito\n  '), ['Contado', 'Crédito']);
  assert.deepEqual(optionLines(''), []);
});
