import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeDatasets, sampleCount, splitTrainEval } from '../../src/data/mix.js';

const range = (n: number, base = 0): number[] => Array.from({ length: n }, (_, i) => base + i);

test('num_samples takes every sample once before drawing with replacement', () => {
  const more = sampleCount(range(5), 12, 1, 0);
  assert.equal(more.length, 12);
  assert.deepEqual([...more.slice(0, 5)].sort(), range(5));
  const fewer = sampleCount(range(10), 4, 1, 0);
  assert.equal(new Set(fewer).size, 4);
  assert.deepEqual(sampleCount(range(10), 4, 1, 0), fewer);
  assert.notDeepEqual(sampleCount(range(10), 4, 1, 1), fewer);
});

test('interleave without probabilities is round-robin over min (under) or max (over) rounds', () => {
  const a = range(2, 0);
  const b = range(4, 10);
  assert.deepEqual(mergeDatasets([a, b], 'interleave_under', null, 0), [0, 10, 1, 11]);
  assert.deepEqual(mergeDatasets([a, b], 'interleave_over', null, 0), [0, 10, 1, 11, 0, 12, 1, 13]);
  assert.deepEqual(mergeDatasets([a, b], 'concat', null, 0), [0, 1, 10, 11, 12, 13]);
});

test('interleave with probabilities follows them and stops by the strategy', () => {
  const a = range(300, 0);
  const b = range(300, 1000);
  const under = mergeDatasets([a, b], 'interleave_under', [0.8, 0.2], 5);
  const fromA = under.filter((x) => x < 1000).length;
  assert.equal(fromA, 300); // a runs out first
  assert.ok(Math.abs(fromA / under.length - 0.8) < 0.06);
  const over = mergeDatasets([a, b], 'interleave_over', [0.8, 0.2], 5);
  assert.ok(new Set(over.filter((x) => x >= 1000)).size === 300);
  assert.deepEqual(mergeDatasets([a, b], 'interleave_over', [0.8, 0.2], 5), over);
});

test('val_size: a fraction rounds up, a count is exact, both parts shuffled and disjoint', () => {
  const { train, eval: ev } = splitTrainEval(range(10), 0.25, 3);
  assert.equal(ev.length, 3);
  assert.deepEqual([...train, ...ev].sort((x, y) => x - y), range(10));
  assert.equal(splitTrainEval(range(10), 4, 3).eval.length, 4);
  assert.throws(() => splitTrainEval(range(3), 3, 0), /leaves no training samples/);
});
