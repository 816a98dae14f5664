import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greedyKnapsack, packRows } from '../../src/data/packing.js';

test('greedy knapsack takes the longest sample that fits, as LLaMA-Factory does', () => {
  assert.deepEqual(greedyKnapsack([5, 3, 8, 2, 7, 4], 10), [[8, 2], [7, 3], [5, 4]]);
  assert.deepEqual(greedyKnapsack([10, 10, 1], 10), [[10], [10], [1]]);
});

test('packed rows keep every sample intact with restarted positions and distinct segments', () => {
  const make = (n: number, base: number) => ({ inputIds: Int32Array.from({ length: n }, (_, i) => base + i), labels: Int32Array.from({ length: n }, (_, i) => (i === 0 ? -100 : base + i)) });
  const rows = [make(3, 100), make(6, 200), make(4, 300), make(12, 400)];
  const { rows: packed, dropped } = packRows(rows, 10);
  assert.equal(dropped, 1); // the 12-token sample cannot fit
  assert.equal(packed.length, 2);
  assert.deepEqual([...packed[0].inputIds], [200, 201, 202, 203, 204, 205, 300, 301, 302, 303]);
  assert.deepEqual([...(packed[0].positions as Int32Array)], [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]);
  assert.deepEqual([...(packed[0].segments as Int32Array)], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
  assert.deepEqual([...packed[0].labels], [-100, 201, 202, 203, 204, 205, -100, 301, 302, 303]);
  assert.deepEqual([...packed[1].inputIds], [100, 101, 102]);
});
