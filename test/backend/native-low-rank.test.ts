// The low-rank products (native/src/low_rank.cc) under every kernel path this host runs, against the reference
// backend bit for bit: odd ranks and feature counts (tails of every length past the 16-lane vectors, partial row
// and rank groups, rows split over threads), accumulate on and off; then the same bits for 1, 2 and 3 threads, and
// errors that name the argument for short buffers. Skipped when the addon is not built.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as ref } from '../../src/backend/reference.js';
import { loadNativeAddon } from '../../src/backend/native.js';
import { bitsEqual, randn } from './helpers.js';

const addon = loadNativeAddon();
const paths = addon === null ? [] : addon.kernelPaths().paths;

// [n, F, r]: n rows, F features, rank r.
const shapes: [number, number, number][] = [
  [1, 1, 1], [5, 17, 3], [13, 33, 8], [37, 100, 5], [4, 16, 4], [9, 31, 16], [70, 40, 9], [130, 515, 8], [300, 896, 8],
  [6, 7, 13],
];

interface Outputs {
  y: Float32Array; // project
  out: Float32Array; // expand onto a random start
  d: Float32Array; // reduce, stored
  dAcc: Float32Array; // reduce, added onto a random start
}

type Kernels = Pick<typeof ref, 'lowRankProject' | 'lowRankExpand' | 'lowRankReduce'>;

function runAll(k: Kernels, n: number, F: number, r: number, seed: number): Outputs {
  const x = randn(n * F, seed), w = randn(r * F, seed + 1), small = randn(n * r, seed + 2);
  const y = new Float32Array(n * r);
  k.lowRankProject(x, w, y, n, F, r, 0.7);
  const out = randn(n * F, seed + 3);
  k.lowRankExpand(small, w, out, n, r, F);
  const d = new Float32Array(r * F).fill(Number.NaN);
  k.lowRankReduce(small, x, d, n, r, F, false);
  const dAcc = randn(r * F, seed + 4);
  k.lowRankReduce(small, x, dAcc, n, r, F, true);
  return { y, out, d, dAcc };
}

function assertSameBits(got: Outputs, want: Outputs, what: string): void {
  for (const key of ['y', 'out', 'd', 'dAcc'] as const) assert.ok(bitsEqual(got[key], want[key]), `${what}: ${key} differs`);
}

describe('low-rank products on every kernel path', { skip: addon === null ? 'native addon not built' : false }, () => {
  const native = addon!;
  const threads = native.getThreads();
  const initial = native.kernelPaths().path;
  after(() => {
    native.setThreads(threads);
    native.setKernelPath(initial);
  });

  for (const path of paths) {
    it(`${path}: project, expand and reduce give the reference's bits, on 1, 2 and 3 threads`, () => {
      native.setKernelPath(path);
      shapes.forEach(([n, F, r], s) => {
        const want = runAll(ref, n, F, r, 10 * s);
        for (const t of [1, 2, 3]) {
          native.setThreads(t);
          assertSameBits(runAll(native, n, F, r, 10 * s), want, `${path}, ${t} threads, n ${n} F ${F} r ${r}`);
        }
      });
      native.setThreads(threads);
    });
  }

  it('the sums are the products: a one-hot operand picks rows and columns out exactly', () => {
    const n = 3, F = 20, r = 2;
    const x = randn(n * F, 7);
    const oneHot = new Float32Array(n * r);
    oneHot[1 * r + 0] = 1; // row 1 of x goes to rank 0
    oneHot[2 * r + 1] = 1; // row 2 to rank 1
    const d = new Float32Array(r * F);
    native.lowRankReduce(oneHot, x, d, n, r, F, false);
    assert.deepEqual([...d.subarray(0, F)], [...x.subarray(F, 2 * F)]);
    assert.deepEqual([...d.subarray(F)], [...x.subarray(2 * F)]);
    const out = new Float32Array(n * F);
    native.lowRankExpand(oneHot, d, out, n, r, F);
    assert.deepEqual([...out.subarray(F)], [...x.subarray(F)]);
    const y = new Float32Array(n * r);
    const w = new Float32Array(r * F);
    w[3] = 1;
    w[F + 19] = 1;
    native.lowRankProject(x, w, y, n, F, r, 2);
    assert.deepEqual([...y], [0, 1, 2].flatMap((i) => [Math.fround(2 * x[i * F + 3]), Math.fround(2 * x[i * F + 19])]));
  });

  it('a short buffer is an error naming the kernel and the argument', () => {
    assert.throws(() => native.lowRankProject(new Float32Array(10), new Float32Array(6), new Float32Array(6), 3, 4, 2, 1),
      /native lowRankProject: x has 10 elements, needs 12/);
    assert.throws(() => native.lowRankExpand(new Float32Array(6), new Float32Array(8), new Float32Array(11), 3, 2, 4),
      /native lowRankExpand: out has 11 elements, needs 12/);
    assert.throws(() => native.lowRankReduce(new Float32Array(6), new Float32Array(12), new Float32Array(7), 3, 2, 4, false),
      /native lowRankReduce: d has 7 elements, needs 8/);
  });
});
