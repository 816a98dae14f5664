import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { Sampler } from '../../src/data/sampler.js';

const take = (s: Sampler, counts: number[]): number[] => counts.flatMap((c) => s.next(c));

test('each epoch is a permutation and its order is a pure function of (seed, epoch)', () => {
  const a = new Sampler(10, 42, true);
  const epoch0 = a.next(10);
  const epoch1 = a.next(10);
  assert.deepEqual([...epoch0].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...epoch1].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(epoch0, epoch1);
  const b = new Sampler(10, 42, true);
  assert.deepEqual(Array.from(b.epochOrder(1)), epoch1);
  assert.deepEqual(Array.from(b.epochOrder(0)), epoch0);
  assert.notDeepEqual(Array.from(new Sampler(10, 43, true).epochOrder(0)), epoch0);
});

test('without shuffle the order is 0..n-1 every epoch', () => {
  assert.deepEqual(new Sampler(4, 1, false).next(10), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
});

test('next crosses epochs and state counts samples taken in the current epoch', () => {
  const s = new Sampler(5, 3, true);
  s.next(3);
  assert.deepEqual(s.state(), { epoch: 0, consumed: 3 });
  s.next(4);
  assert.deepEqual(s.state(), { epoch: 1, consumed: 2 });
  s.next(3);
  assert.deepEqual(s.state(), { epoch: 2, consumed: 0 });
});

test('a restored sampler continues the same stream, whatever the batch size after resume', () => {
  const uninterrupted = take(new Sampler(37, 9, true), [8, 8, 8, 8, 8, 8, 8, 8, 8, 8]);
  const first = new Sampler(37, 9, true);
  const before = take(first, [8, 8, 8, 8, 8, 8]); // 48 samples: epoch 1, 11 consumed
  const saved = JSON.parse(JSON.stringify(first.state()));
  assert.deepEqual(saved, { epoch: 1, consumed: 11 });
  const resumed = new Sampler(37, 9, true);
  resumed.restore(saved);
  const after = take(resumed, [3, 3, 3, 3, 4, 4, 4, 4, 4]); // a different batch size, the same 32 samples
  assert.deepEqual([...before, ...after], uninterrupted);
});

test('restore rejects cursors that do not fit the dataset', () => {
  const s = new Sampler(5, 1, true);
  assert.throws(() => s.restore({ epoch: 0, consumed: 6 }), UsageError);
  assert.throws(() => s.restore({ epoch: -1, consumed: 0 }), UsageError);
  assert.throws(() => new Sampler(0, 1, true), UsageError);
  s.restore({ epoch: 2, consumed: 5 });
  assert.deepEqual(s.state(), { epoch: 3, consumed: 0 });
});
