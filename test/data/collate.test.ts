import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collate } from '../../src/data/collate.js';

const row = (ids: number[], labels: number[]) => ({ inputIds: Int32Array.from(ids), labels: Int32Array.from(labels) });

test('rows are right-padded to the longest, rounded up to a multiple of 8; pads are labelled -100', () => {
  const batch = collate([row([5, 6, 7], [-100, 6, 7]), row([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9])], { padId: 0 });
  assert.equal(batch.B, 2);
  assert.equal(batch.T, 16);
  assert.deepEqual([...batch.ids.slice(0, 16)], [5, 6, 7, ...new Array(13).fill(0)]);
  assert.deepEqual([...batch.labels.slice(0, 16)], [-100, 6, 7, ...new Array(13).fill(-100)]);
  assert.deepEqual([...batch.ids.slice(16, 25)], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(batch.tokens, 12);
  assert.equal(batch.positions, null);
  assert.equal(batch.segments, null);
});

test('padTo sets a minimum length, still a multiple of 8', () => {
  assert.equal(collate([row([1], [1])], { padId: 9, padTo: 20 }).T, 24);
  assert.equal(collate([row([1], [1])], { padId: 9 }).T, 8);
});

test('a packed row brings positions and segments for the whole batch; pads get segment 0', () => {
  const packed = { ...row([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]), positions: Int32Array.from([0, 1, 2, 0, 1]), segments: Int32Array.from([1, 1, 1, 2, 2]) };
  const batch = collate([packed, row([7, 8], [7, 8])], { padId: 0 });
  assert.equal(batch.T, 8);
  assert.deepEqual([...(batch.positions as Int32Array)], [0, 1, 2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...(batch.segments as Int32Array)], [1, 1, 1, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
});
