// The inbox's ordering and buffering (web/inbox-list.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { before, createInboxList } from '../../web/inbox-list.js';

// LSNs as the server writes them ('X/Y', hex); the same order as the realtime client's.
function compareLsn(a, b) {
  const n = (l) => l.split('/').reduce((acc, part) => acc * 2n ** 32n + BigInt(`0x${part}`), 0n);
  const x = n(a);
  const y = n(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const at = (s) => new Date(Date.UTC(2026, 11, 7, 9, 0, s)).toISOString();
const row = (id, s, extra = {}) => ({ conversation_id: id, last_activity_at: at(s), ...extra });
const page = (rows, more = false) => ({ items: rows, next_cursor: more ? 'next' : null, total: rows.length + (more ? 10 : 0), unread: 0 });
const upsert = (r, counts) => ({ kind: 'upsert', row: r, counts });

test('newest first, ties by the larger id', () => {
  assert.equal(before(row(1, 5), row(2, 4)), true);
  assert.equal(before(row(1, 4), row(2, 5)), false);
  assert.equal(before(row(2, 4), row(1, 4)), true);
  assert.equal(before(row(1, 4), row(2, 4)), false);
});

test('an upsert moves a row to its place and says when it reached the top', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.finishLoad(page([row(3, 30), row(2, 20), row(1, 10)]), null);
  assert.equal(l.apply(upsert(row(1, 40))), 1, 'came to the top');
  assert.deepEqual(l.order, [1, 3, 2]);
  assert.equal(l.apply(upsert(row(2, 35))), null, 'moved, not to the top');
  assert.deepEqual(l.order, [1, 2, 3]);
  assert.equal(l.apply(upsert(row(9, 35))), null, 'a tie goes by the larger id');
  assert.deepEqual(l.order, [1, 9, 2, 3]);
});

test('a row newer than nothing loaded but older than the last loaded page is left to a later page', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.finishLoad(page([row(5, 50), row(4, 40)], true), null);
  l.apply(upsert(row(7, 10)));
  assert.deepEqual(l.order, [5, 4], 'not shown between pages');
  assert.equal(l.rows.has(7), false);
  // Without further pages it belongs at the end.
  const all = createInboxList(compareLsn);
  all.startLoad();
  all.finishLoad(page([row(5, 50), row(4, 40)]), null);
  all.apply(upsert(row(7, 10)));
  assert.deepEqual(all.order, [5, 4, 7]);
});

test('remove drops a row; counts follow the events', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.finishLoad(page([row(2, 20), row(1, 10)]), null);
  l.apply({ kind: 'remove', conversation_id: 2, counts: { total: 1, unread: 0 } });
  assert.deepEqual(l.order, [1]);
  assert.deepEqual(l.counts, { total: 1, unread: 0 });
});

test('frames that arrive while a page loads apply only if newer than the page', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  assert.equal(l.buffer({ lsn: '0/100', event: upsert(row(1, 99)) }), true, 'older than the page: dropped');
  assert.equal(l.buffer({ lsn: '0/300', event: upsert(row(2, 98)) }), true, 'newer: applied');
  assert.equal(l.buffer({ lsn: '1/0', event: { kind: 'remove', conversation_id: 3 } }), true, 'a higher segment is newer');
  const flashed = l.finishLoad(page([row(3, 30), row(1, 20), row(2, 10)]), '0/200');
  assert.deepEqual(l.order, [2, 1], 'row 1 kept its page version; 2 moved up; 3 removed');
  assert.equal(l.rows.get(1).last_activity_at, at(20));
  assert.deepEqual(flashed, [2]);
  assert.equal(l.buffer({ lsn: '1/1', event: upsert(row(4, 1)) }), false, 'after the load, frames apply at once');
});

test('without a read position every buffered frame applies; a failed load stops buffering', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.buffer({ lsn: '0/1', event: upsert(row(1, 99)) });
  l.finishLoad(page([row(1, 10)]), null);
  assert.equal(l.rows.get(1).last_activity_at, at(99));
  l.startLoad();
  l.failLoad();
  assert.equal(l.buffer({ lsn: '0/2', event: upsert(row(1, 1)) }), false);
});

test('a further page appends only rows not already held', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.finishLoad(page([row(5, 50), row(4, 40)], true), null);
  l.appendPage(page([row(4, 40), row(3, 30)]));
  assert.deepEqual(l.order, [5, 4, 3]);
  assert.equal(l.hasMore, false);
  assert.equal(l.cursor, null);
});

test('random upserts and removes keep the order strict and the rows in step', () => {
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (let round = 0; round < 200; round++) {
    const l = createInboxList(compareLsn);
    l.startLoad();
    l.finishLoad(page([]), null);
    for (let i = 0; i < 60; i++) {
      const id = 1 + rand(15);
      if (rand(4) === 0) l.apply({ kind: 'remove', conversation_id: id });
      else l.apply(upsert(row(id, rand(50))));
    }
    assert.equal(new Set(l.order).size, l.order.length, 'no duplicates');
    assert.deepEqual([...l.rows.keys()].sort((a, b) => a - b), [...l.order].sort((a, b) => a - b));
    for (let i = 1; i < l.order.length; i++) assert.ok(before(l.rows.get(l.order[i - 1]), l.rows.get(l.order[i])), 'strictly ordered');
  }
});

test('frozen while selecting: rows keep their place, content stays current, new and moved ones are counted', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.finishLoad(page([row(3, 30), row(2, 20), row(1, 10)]), null);
  l.freeze();
  assert.equal(l.apply(upsert(row(1, 40, { last_message_preview: 'hola' }))), null, 'nothing comes to the top');
  assert.deepEqual(l.order, [3, 2, 1], 'no row moved');
  assert.equal(l.rows.get(1).last_message_preview, 'hola', 'the row shows its new content in place');
  l.apply(upsert(row(9, 50)));
  assert.equal(l.rows.has(9), false, 'a new conversation waits');
  l.apply({ kind: 'remove', conversation_id: 2 });
  assert.deepEqual(l.order, [3, 2, 1], 'a removed row stays in place');
  assert.ok(l.gone.has(2), 'marked gone');
  assert.equal(l.freshCount(), 2, 'one moved and one new');
  l.apply(upsert(row(3, 30, { unread_count: 1 })));
  assert.equal(l.freshCount(), 2, 'a change that does not move a row is not new');
  assert.deepEqual(l.thaw(), [1, 9], 'each that reached the top on its turn');
  assert.deepEqual(l.order, [9, 1, 3]);
  assert.equal(l.freshCount(), 0);
  assert.equal(l.gone.size, 0);
});

test('a row moved away and back while frozen is shown again', () => {
  const l = createInboxList(compareLsn);
  l.startLoad();
  l.finishLoad(page([row(2, 20), row(1, 10)]), null);
  l.freeze();
  l.apply({ kind: 'remove', conversation_id: 1 });
  l.apply(upsert(row(1, 10, { team_id: 5 })));
  assert.equal(l.gone.has(1), false);
  assert.equal(l.rows.get(1).team_id, 5);
  assert.equal(l.freshCount(), 0, 'it did not move');
  l.thaw();
  assert.deepEqual(l.order, [2, 1]);
});

test('random events while frozen, then thawed, end as if never frozen', () => {
  let seed = 11;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (let round = 0; round < 200; round++) {
    const live = createInboxList(compareLsn);
    const frozen = createInboxList(compareLsn);
    const first = page(Array.from({ length: 8 }, (_, i) => row(20 - i, 100 - i)), rand(2) === 0);
    for (const l of [live, frozen]) {
      l.startLoad();
      l.finishLoad(structuredClone(first), null);
    }
    const freezeAt = rand(30);
    for (let i = 0; i < 40; i++) {
      if (i === freezeAt) frozen.freeze();
      const id = 1 + rand(25);
      const event = rand(4) === 0 ? { kind: 'remove', conversation_id: id } : upsert(row(id, 50 + rand(80)));
      live.apply(structuredClone(event));
      const before = [...frozen.order];
      frozen.apply(event);
      if (frozen.frozen) assert.deepEqual(frozen.order, before, 'no row moves while frozen');
    }
    frozen.thaw();
    assert.deepEqual(frozen.order, live.order);
    assert.deepEqual([...frozen.rows.entries()].sort(), [...live.rows.entries()].sort());
  }
});

test('longest waiting: oldest first, ties by the smaller id', () => {
  assert.equal(before(row(1, 4), row(2, 5), 'waiting'), true);
  assert.equal(before(row(1, 5), row(2, 4), 'waiting'), false);
  assert.equal(before(row(1, 4), row(2, 4), 'waiting'), true);
  const l = createInboxList(compareLsn, 'waiting');
  l.startLoad();
  l.finishLoad(page([row(1, 10), row(2, 20), row(3, 30)]), null);
  l.apply(upsert(row(4, 15)));
  assert.deepEqual(l.order, [1, 4, 2, 3]);
  // The prospect who was waiting longest is answered: it leaves the waiting list by a remove,
  // and a new message moves a row to the end.
  l.apply({ kind: 'remove', conversation_id: 1 });
  l.apply(upsert(row(2, 40)));
  assert.deepEqual(l.order, [4, 3, 2]);
});

test('unread first: rows with unread messages before the rest, each newest first', () => {
  const u = (id, s) => row(id, s, { unread_count: 1 });
  const r = (id, s) => row(id, s, { unread_count: 0 });
  assert.equal(before(u(1, 4), r(2, 9), 'unread_first'), true);
  assert.equal(before(r(1, 9), u(2, 4), 'unread_first'), false);
  const l = createInboxList(compareLsn);
  l.setSort('unread_first');
  l.startLoad();
  l.finishLoad(page([u(1, 10), r(3, 30), r(2, 20)]), null);
  l.apply(upsert(u(4, 5)));
  assert.deepEqual(l.order, [1, 4, 3, 2]);
  // Read: it joins the rest at its place.
  l.apply(upsert(r(1, 10)));
  assert.deepEqual(l.order, [4, 3, 2, 1]);
  l.setSort('latest');
  assert.deepEqual(l.order, [], 'another order starts from a new page');
});
