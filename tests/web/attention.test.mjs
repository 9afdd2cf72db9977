// Attention's rules: the tab title's count, which inbox change is a new inbound message for the
// user, and stored preferences (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNewInbound, readPrefs, titled } from '../../web/attention-rules.js';

test('the unread count leads the title, replacing an older one', () => {
  assert.equal(titled('Platica', 3), '(3) Platica');
  assert.equal(titled('(3) Platica', 4), '(4) Platica');
  assert.equal(titled('(4) Inbox · Platica', 0), 'Inbox · Platica');
  assert.equal(titled('Platica', 250), '(99+) Platica');
  assert.equal(titled('(99+) Platica', 2), '(2) Platica');
});

test('preferences are off unless stored on', () => {
  assert.deepEqual(readPrefs(null), { notify: false, sound: false });
  assert.deepEqual(readPrefs('{"notify":true}'), { notify: true, sound: false });
  assert.deepEqual(readPrefs('not json'), { notify: false, sound: false });
});

test('a new inbound message in an owned conversation, not open and focused, is news', () => {
  const now = Date.parse('2026-12-07T18:00:00Z');
  const row = { conversation_id: 7, executive_id: 3, last_message_direction: 'in', last_message_id: 100, last_message_at: '2026-12-07T17:59:50Z' };
  const ctx = (over = {}) => ({ me: 3, known: new Map([[7, 99]]), openId: null, focused: true, now, ...over });
  assert.equal(isNewInbound(row, ctx()), true);
  assert.equal(isNewInbound(row, ctx({ openId: 7 })), false, 'the open, focused chat');
  assert.equal(isNewInbound(row, ctx({ openId: 7, focused: false })), true, 'open but the tab is in the background');
  assert.equal(isNewInbound(row, ctx({ me: 4 })), false, 'someone else\'s prospect');
  assert.equal(isNewInbound(row, ctx({ known: new Map([[7, 100]]) })), false, 'already seen');
  assert.equal(isNewInbound({ ...row, last_message_direction: 'out' }, ctx()), false, 'our own reply');
  assert.equal(isNewInbound(row, ctx({ known: new Map() })), true, 'unknown but just now');
  assert.equal(isNewInbound(row, ctx({ known: new Map(), now: now + 3_600_000 })), false, 'unknown and old: a reassignment, not news');
});
