// The global search's pure parts: its route both ways and a snippet's runs (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { searchHash, searchQuery, snippetRuns } from '../../web/search-text.js';

test('a search route carries any text and reads back the same', () => {
  for (const q of ['Lucía', 'maría romero', '+52 1 55 1234/5678', 'a%b#c?d', '"envío urgente" -x']) {
    const hash = searchHash(q);
    assert.match(hash, /^#\/search\/[^/#?]+$/);
    assert.equal(searchQuery(hash.slice('#/search/'.length)), q);
  }
  assert.equal(searchHash('   '), '#/search');
  assert.equal(searchQuery(undefined), '');
  assert.equal(searchQuery('%E0%A4%A'), '', 'a malformed route is an empty search');
});

test('snippet runs are text, joined by kind, malformed parts dropped', () => {
  assert.deepEqual(
    snippetRuns([{ text: 'hola ', hit: false }, { text: 'envío', hit: true }, { text: 's', hit: true }, { text: '', hit: false }, { text: ' <b>', hit: false }]),
    [{ text: 'hola ', hit: false }, { text: 'envíos', hit: true }, { text: ' <b>', hit: false }],
  );
  assert.deepEqual(snippetRuns([{ text: 3, hit: true }, null, { text: 'x', hit: 'yes' }]), [{ text: 'x', hit: false }]);
  assert.deepEqual(snippetRuns(undefined), []);
});
