// The web app's modules form a tree: no import cycle, and nothing imports the shell (main.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const WEB = new URL('../../web/', import.meta.url).pathname;
const graph = new Map(readdirSync(WEB).filter((f) => f.endsWith('.js')).map((f) => [
  f, [...readFileSync(join(WEB, f), 'utf8').matchAll(/from '\.\/([\w.-]+)'/g)].map((m) => m[1]),
]));

test('no module imports the shell', () => {
  const importers = [...graph].filter(([, deps]) => deps.includes('main.js')).map(([f]) => f);
  assert.deepEqual(importers, []);
});

test('the imports have no cycle', () => {
  const cycles = [];
  const visit = (file, path) => {
    if (path.includes(file)) return cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
    for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual([...new Set(cycles)], []);
});

test('every import names a file of web/', () => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} -> ${d}`));
  assert.deepEqual(missing, []);
});
