// The bot screen's pure helpers: moving a rule in the order, and the delay in seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moveId, msToSeconds, secondsToMs } from '../../web/admin-bot.js';

test('moving a rule keeps every other rule in its order', () => {
  assert.deepEqual(moveId([1, 2, 3, 4], 0, 1), [2, 1, 3, 4]);
  assert.deepEqual(moveId([1, 2, 3, 4], 3, 2), [1, 2, 4, 3]);
  assert.deepEqual(moveId([1, 2, 3, 4], 3, 0), [4, 1, 2, 3], 'dragged to the top');
  assert.deepEqual(moveId([1, 2, 3, 4], 0, 9), [2, 3, 4, 1], 'clamped to the end');
  assert.deepEqual(moveId([1, 2], 0, -1), [1, 2], 'the first cannot go higher');
  assert.deepEqual(moveId([1, 2], 5, 0), [1, 2], 'an index outside changes nothing');
});

test('delays read in seconds, with a point or a comma, and go back to milliseconds', () => {
  assert.equal(secondsToMs('1.5'), 1500);
  assert.equal(secondsToMs('1,5'), 1500);
  assert.equal(secondsToMs(' 12 '), 12000);
  assert.equal(secondsToMs(''), null);
  assert.equal(secondsToMs('abc'), null);
  assert.equal(msToSeconds(1000), '1');
  assert.equal(msToSeconds(12000), '12');
  assert.equal(msToSeconds(1250), '1.3');
});
