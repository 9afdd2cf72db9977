// Message parts (web/message-parts.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contactsOf, locationOf, orderOf, snippet } from '../../web/message-parts.js';

test('a location links to OpenStreetMap at its coordinates', () => {
  const m = { wa_type: 'location', content: { latitude: 19.4326, longitude: -99.1332, name: 'Zócalo', address: 'CDMX' } };
  const l = locationOf(m);
  assert.equal(l.url, 'https://www.openstreetmap.org/?mlat=19.4326&mlon=-99.1332#map=16/19.4326/-99.1332');
  assert.equal(l.name, 'Zócalo');
  assert.equal(locationOf({ wa_type: 'location', content: { latitude: 'x', longitude: 1 } }), null);
  assert.equal(locationOf({ wa_type: 'location', content: { latitude: 120, longitude: 1 } }), null);
  assert.equal(locationOf({ wa_type: 'text', content: null }), null);
});

test('shared contacts: names and phones', () => {
  const m = { wa_type: 'contacts', content: { contacts: [
    { name: { formatted_name: 'Juan Pérez' }, phones: [{ phone: '+52 55 1111 2222', type: 'CELL' }, { wa_id: '5215533334444' }] },
    { name: { first_name: 'Lola' }, phones: [] },
  ] } };
  assert.deepEqual(contactsOf(m), [
    { name: 'Juan Pérez', phones: [{ phone: '+52 55 1111 2222', type: 'CELL' }, { phone: '+5215533334444', type: null }] },
    { name: 'Lola', phones: [] },
  ]);
  assert.equal(contactsOf({ wa_type: 'contacts', content: { contacts: [] } }), null);
});

test('an order: items, quantities and total', () => {
  const m = { wa_type: 'order', content: { catalog_id: 'c', text: 'urgente', total: { amount: 350.5, currency: 'MXN' },
    items: [{ product_retailer_id: 'SKU-1', quantity: 2, item_price: 100, currency: 'MXN' }, { product_retailer_id: 'SKU-2', quantity: 1, item_price: 150.5, currency: 'MXN' }] } };
  const o = orderOf(m);
  assert.equal(o.items.length, 2);
  assert.deepEqual(o.items[0], { id: 'SKU-1', quantity: 2, price: 100, currency: 'MXN' });
  assert.deepEqual(o.total, { amount: 350.5, currency: 'MXN' });
  assert.equal(orderOf({ wa_type: 'order', content: { items: [], total: null } }).total, null);
});

test('a quote snippet drops the type placeholder and is short', () => {
  assert.equal(snippet({ body: '[image] mi casa' }), 'mi casa');
  assert.equal(snippet({ body: 'x'.repeat(200) }, 10), `${'x'.repeat(9)}…`);
  assert.equal(snippet({ body: '[document]', media: { filename: 'a.pdf' } }), 'a.pdf');
});
