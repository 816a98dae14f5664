// Every op's backward rule against central differences of its forward, on the reference backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/index.js';
import * as ops from '../../src/tensor/ops.js';
import { RopeTable } from '../../src/tensor/rope.js';
import { bf16ToF32, f32ToBf16, Tensor } from '../../src/tensor/tensor.js';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { gradError, maxAbs, maxAbsDiff, randn, rng } from './helpers.js';

setBackend('reference');
const TOL = 5e-4; // observed errors are 1e-6..3e-5

test('linear: x (B, T, in), weight and bias gradients', () => {
  const r = rng(1);
  const inputs = [randn([2, 3, 4], r), randn([5, 4], r), randn([5], r)];
  const err = gradError(([x, w, b]) => ops.linear(x, w, b), inputs, [0, 1, 2]);
  assert.ok(err < TOL, `relative error ${err}`);
});

// The bf16 product rounds x (and, backward, dy) to bf16: on a bf16-valued x it is the widened float32 product exactly.
test('linear: bf16 frozen weight matches its widened float32 and passes gradient to x', () => {
  const r = rng(2);
  const wf = randn([6, 4], r);
  const bits = f32ToBf16(wf.data);
  const wb = Tensor.fromBf16(bits, [6, 4]);
  const widened = Tensor.from(bf16ToF32(bits), [6, 4]);
  const x = randn([3, 4], r);
  const xb = Tensor.from(bf16ToF32(f32ToBf16(x.data)), [3, 4]);
  assert.deepEqual(Array.from(noGrad(() => ops.linear(xb, wb)).data), Array.from(noGrad(() => ops.linear(xb, widened)).data));
  assert.notDeepEqual(Array.from(noGrad(() => ops.linear(x, wb)).data), Array.from(noGrad(() => ops.linear(x, widened)).data));
  const targets = Int32Array.of(1, 5, 0);
  const gradThrough = (w: Tensor): Float32Array => {
    const xx = Tensor.from(x.data.slice(), [3, 4]);
    xx.requiresGrad = true;
    backward(ops.crossEntropy(ops.linear(xx, w), targets, 3));
    return xx.grad!;
  };
  const [viaBf16, viaF32] = [gradThrough(wb), gradThrough(widened)];
  assert.ok(maxAbsDiff(viaBf16, viaF32) < 1e-2 * maxAbs(viaF32), 'dx within bf16 rounding of the float32 one');
  wb.requiresGrad = true;
  assert.throws(() => ops.linear(x, wb), /bf16 weight cannot require grad/);
});

test('matmul: all transpose combinations, 2-D and batched', () => {
  const r = rng(3);
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const [M, K, N] = [3, 4, 5];
      const a = randn(transA ? [2, K, M] : [2, M, K], r);
      const b = randn(transB ? [2, N, K] : [2, K, N], r);
      const err3 = gradError(([x, y]) => ops.matmul(x, y, { transA, transB }), [a, b], [0, 1]);
      assert.ok(err3 < TOL, `batched transA=${transA} transB=${transB}: ${err3}`);
      const a2 = randn(transA ? [K, M] : [M, K], r);
      const b2 = randn(transB ? [N, K] : [K, N], r);
      const err2 = gradError(([x, y]) => ops.matmul(x, y, { transA, transB }), [a2, b2], [0, 1]);
      assert.ok(err2 < TOL, `transA=${transA} transB=${transB}: ${err2}`);
    }
  }
  assert.throws(() => ops.matmul(randn([2, 3], r), randn([4, 2], r)), /inner dims differ/);
});

test('embedding: repeated ids accumulate; bad ids are rejected', () => {
  const r = rng(4);
  const ids = Int32Array.from([1, 3, 1, 0, 3, 3]);
  const err = gradError(([w]) => ops.embedding(w, ids, [2, 3]), [randn([4, 5], r)], [0]);
  assert.ok(err < TOL, `relative error ${err}`);
  assert.throws(() => ops.embedding(randn([4, 5], r), Int32Array.from([4]), [1]), /token id 4 at position 0/);
});

test('rmsnorm: x and weight gradients', () => {
  const r = rng(5);
  const err = gradError(([x, w]) => ops.rmsnorm(x, w, 1e-6), [randn([3, 2, 8], r), randn([8], r)], [0, 1]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('rope: gradient is the inverse rotation', () => {
  const r = rng(6);
  const table = new RopeTable({ theta: 10000, hd: 8 });
  const positions = Int32Array.from([0, 5, 2, 9, 1, 3]);
  const err = gradError(([x]) => ops.rope(x, positions, table), [randn([2, 3, 2, 8], r)], [0]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('attention: q, k, v gradients with GQA and packed segments', () => {
  const r = rng(7);
  const segments = Int32Array.from([0, 0, 1, 1, 1, 0, 0, 0, 0, 2]);
  const [B, T, nHead, nKV, hd] = [2, 5, 4, 2, 3];
  const inputs = [randn([B, T, nHead, hd], r), randn([B, T, nKV, hd], r), randn([B, T, nKV, hd], r)];
  for (const segs of [null, segments]) {
    const err = gradError(([q, k, v]) => ops.attention(q, k, v, { scale: 0.7, segments: segs }), inputs, [0, 1, 2]);
    assert.ok(err < TOL, `segments=${segs !== null}: relative error ${err}`);
  }
});

test('attention: q, k, v gradients with a sliding window (GQA, packed segments)', () => {
  const r = rng(17);
  const segments = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2]);
  const [B, T, nHead, nKV, hd] = [2, 7, 4, 2, 3];
  const inputs = [randn([B, T, nHead, hd], r), randn([B, T, nKV, hd], r), randn([B, T, nKV, hd], r)];
  for (const window of [1, 2, 4]) {
    for (const segs of [null, segments]) {
      const err = gradError(([q, k, v]) => ops.attention(q, k, v, { scale: 0.7, segments: segs, window }), inputs, [0, 1, 2]);
      assert.ok(err < TOL, `window=${window} segments=${segs !== null}: relative error ${err}`);
    }
  }
});

test('swiglu: gate and up gradients', () => {
  const r = rng(8);
  const err = gradError(([g, u]) => ops.swiglu(g, u), [randn([4, 6], r, 2), randn([4, 6], r)], [0, 1]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('crossEntropy: gradient, ignored rows get none, normalizer divides', () => {
  const r = rng(9);
  const targets = Int32Array.from([2, -100, 0, 4]);
  const logits = randn([4, 5], r, 2);
  const err = gradError(([x]) => ops.crossEntropy(x, targets, 3), [logits], [0]);
  assert.ok(err < TOL, `relative error ${err}`);
  const row1 = logits.grad!.subarray(5, 10);
  assert.deepEqual(Array.from(row1), [0, 0, 0, 0, 0]);
  assert.throws(() => ops.crossEntropy(logits, Int32Array.from([2, 5, 0, 0]), 1), /target 5 at row 1/);
  assert.throws(() => ops.crossEntropy(logits, targets, 0), /normalizer must be positive/);
});

test('add, mul (including an input used twice), scale, reshape', () => {
  const r = rng(10);
  const [a, b] = [randn([3, 4], r), randn([3, 4], r)];
  const cases: [string, (t: Tensor[]) => Tensor][] = [
    ['add', ([x, y]) => ops.add(x, y)],
    ['mul', ([x, y]) => ops.mul(x, y)],
    ['mul self', ([x]) => ops.mul(x, x)],
    ['add self', ([x]) => ops.add(x, ops.scale(x, 3))],
    ['scale', ([x]) => ops.scale(x, -1.5)],
    ['reshape', ([x, y]) => ops.mul(ops.reshape(x, [2, 6]), ops.reshape(y, [2, 6]))],
  ];
  for (const [name, f] of cases) {
    const err = gradError(f, [a, b], name.endsWith('self') || name === 'scale' ? [0] : [0, 1]);
    assert.ok(err < TOL, `${name}: relative error ${err}`);
  }
  assert.throws(() => ops.add(a, randn([4, 3], r)), /shapes differ: \[3, 4\] vs \[4, 3\]/);
});

test('gradError detects a wrong gradient', () => {
  // The check must be able to fail: scale's true gradient is s, so a backward taken through a 1% larger scale must fail.
  const r = rng(11);
  let calls = 0;
  const err = gradError(([x]) => ops.scale(x, calls++ === 1 ? 2.02 : 2), [randn([3, 3], r)], [0]);
  assert.ok(err > TOL, `relative error ${err}`);
});

test('reference forward values of the small ops', () => {
  const a = Tensor.from([1, -2, 3, 0.5], [2, 2]);
  const b = Tensor.from([2, 1, -1, 4], [2, 2]);
  assert.deepEqual(Array.from(ops.matmul(a, b).data), [4, -7, 5.5, 5]);
  assert.deepEqual(Array.from(ops.matmul(a, b, { transA: true, transB: true }).data), [5, 11, -3.5, 4]);
  const ce = ops.crossEntropy(Tensor.from([0, 0, Math.log(2), 0], [2, 2]), Int32Array.from([1, 0]), 2);
  assert.ok(Math.abs(ce.item() - (Math.log(2) + Math.log(3 / 2)) / 2) < 1e-6);
  const sw = ops.swiglu(Tensor.from([0, 1], [2]), Tensor.from([3, 2], [2]));
  assert.ok(maxAbsDiff(sw.data, [0, 2 / (1 + Math.exp(-1))]) < 1e-6);
});
