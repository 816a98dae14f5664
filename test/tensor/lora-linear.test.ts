// The fused LoRA layer: its gradients against central differences (x, A, B, bias, a trainable W; the branch input
// dropped or not), its output and gradients against the composed ops with a frozen bf16 W, the taken-over base
// buffer, and native against reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAvailable, setBackend } from '../../src/backend/index.js';
import { backward, checkpoint, replayable } from '../../src/tensor/autograd.js';
import { loraLinear } from '../../src/tensor/lora-linear.js';
import { add, linear, mul, reshape, scale } from '../../src/tensor/ops.js';
import { f32ToBf16, Tensor } from '../../src/tensor/tensor.js';
import { gradError, maxAbs, maxAbsDiff, randn, rng } from './helpers.js';

const S = 0.75;

function frozenBf16(t: Tensor): Tensor {
  return Tensor.fromBf16(f32ToBf16(t.data), t.shape);
}

// A fixed dropout-like mask (0 or 2) over x's shape.
function mask(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  const m = randn(shape, r);
  for (let i = 0; i < m.size; i++) m.data[i] = m.data[i] < 0 ? 0 : 2;
  return m;
}

// Rank 3 runs the branch through the backend's low-rank kernels, rank 17 through the general GEMM.
test('gradients of x, W, A, B and bias match central differences, with and without a dropped branch input', () => {
  setBackend('reference');
  for (const rank of [3, 17]) {
    const r = rng(5);
    const inputs = [randn([2, 3, 5], r), randn([4, 5], r), randn([rank, 5], r), randn([4, rank], r), randn([4], r)];
    const m = mask([2, 3, 5], 9);
    for (const dropped of [false, true]) {
      for (const withBias of [false, true]) {
        const f = ([x, w, A, B, b]: Tensor[]): Tensor =>
          loraLinear(x, w, withBias ? b : null, A, B, S, dropped ? { xA: mul(x, m) } : {});
        const check = withBias ? [0, 1, 2, 3, 4] : [0, 1, 2, 3];
        const err = gradError(f, inputs, check);
        assert.ok(err < 5e-4, `rank ${rank}, dropped=${dropped} bias=${withBias}: relative error ${err}`);
      }
    }
  }
});

// Output and gradients of x, A, B (and bias) through the fused op or the composed linear/scale/add, bf16 frozen W.
function run(fused: 'fresh' | 'base' | 'composed', withBias: boolean): Float32Array[] {
  const r = rng(21);
  const x = randn([6, 8], r);
  const w = frozenBf16(randn([7, 8], r));
  const A = randn([2, 8], r);
  const B = randn([7, 2], r);
  const bias = withBias ? randn([7], r) : null;
  const m = mask([6, 8], 23);
  const g = randn([6, 7], r);
  for (const t of [x, A, B, ...(bias ? [bias] : [])]) t.requiresGrad = true;
  const xA = mul(x, m);
  let y: Tensor;
  if (fused === 'composed') y = add(linear(x, w, bias), linear(scale(linear(xA, A), S), B));
  else if (fused === 'fresh') y = loraLinear(x, w, bias, A, B, S, { xA });
  else y = loraLinear(x, w, bias, A, B, S, { xA, base: linear(x, w, bias) });
  const out = y.data.slice();
  // L = sum(y * g) as a (1, N*out) @ (N*out, 1) product, so dL/dy = g.
  backward(linear(reshape(y, [1, y.size]), Tensor.from(g.data, [1, g.size])));
  return [out, x.grad!, A.grad!, B.grad!, ...(bias ? [bias.grad!] : [])];
}

function assertClose(got: Float32Array[], want: Float32Array[], what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const diff = maxAbsDiff(got[i], want[i]);
    assert.ok(diff <= 1e-5 * Math.max(1, maxAbs(want[i])), `${what}, output ${i}: max diff ${diff}`);
  }
}

test('frozen bf16 W: same output and gradients as the composed ops, with a fresh or a taken-over base buffer', () => {
  setBackend('reference');
  for (const withBias of [false, true]) {
    const composed = run('composed', withBias);
    assertClose(run('fresh', withBias), composed, `fresh, bias=${withBias}`);
    assertClose(run('base', withBias), composed, `base, bias=${withBias}`);
  }
});

test('under checkpoint(): the taken-over base buffer and a replayed mask give the same output and gradients', () => {
  setBackend('reference');
  const grads = (checkpointed: boolean): Float32Array[] => {
    const r = rng(31);
    const x = randn([5, 6], r);
    const w = frozenBf16(randn([4, 6], r));
    const A = randn([3, 6], r);
    const B = randn([4, 3], r);
    for (const t of [x, A, B]) t.requiresGrad = true;
    let draws = 0;
    const layer = ([input]: Tensor[]): Tensor => {
      const m = replayable(() => mask([5, 6], 40 + draws++));
      return loraLinear(input, w, null, A, B, S, { xA: mul(input, m), base: linear(input, w) });
    };
    const y = checkpointed ? checkpoint(layer, [x]) : layer([x]);
    const out = y.data.slice();
    backward(linear(reshape(mul(y, y), [1, y.size]), Tensor.from(new Float32Array(y.size).fill(1), [1, y.size])));
    assert.equal(draws, 1);
    return [out, x.grad!, A.grad!, B.grad!];
  };
  assertClose(grads(true), grads(false), 'checkpointed');
});

test('bad shapes name the op and the tensors', () => {
  const r = rng(3);
  const x = randn([4, 5], r);
  const w = randn([6, 5], r);
  assert.throws(() => loraLinear(x, w, null, randn([2, 4], r), randn([6, 2], r), S), /loraLinear: A must be \(r, in\)/);
  assert.throws(() => loraLinear(x, w, null, randn([2, 5], r), randn([6, 3], r), S), /loraLinear: B must be \(out, r\)/);
  assert.throws(() => loraLinear(x, w, null, randn([2, 5], r), randn([6, 2], r), S, { xA: randn([4, 4], r) }), /xA \[4, 4\] must match x/);
});

test('native matches the reference', { skip: !nativeAvailable() && 'native addon not built' }, () => {
  setBackend('reference');
  const reference = [run('fresh', true), run('base', false)];
  setBackend('native');
  try {
    assertClose(run('fresh', true), reference[0], 'native fresh');
    assertClose(run('base', false), reference[1], 'native base');
  } finally {
    setBackend('reference');
  }
});
