// The same training step on every available backend, with the pool's idle buffers poisoned with NaN first: a kernel
// that reads an output it was meant to overwrite shows up as NaN, and native results must track the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAvailable, setBackend } from '../../src/backend/index.js';
import { backward } from '../../src/tensor/autograd.js';
import { linearCrossEntropy } from '../../src/tensor/linear-cross-entropy.js';
import * as ops from '../../src/tensor/ops.js';
import { fillFree } from '../../src/tensor/pool.js';
import { f32ToBf16, Tensor } from '../../src/tensor/tensor.js';
import { TinyLM } from '../nn/tiny.js';
import { maxAbs, maxAbsDiff, randn, rng } from './helpers.js';

const cfg = { V: 48, C: 32, nLayer: 2, nHead: 4, nKV: 2, hidden: 48 };
const [B, T] = [2, 12];
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 3) % cfg.V);
const segments = Int32Array.from({ length: B * T }, (_, i) => (i % T < 5 ? 0 : 1));

// Loss and every gradient after two accumulated backward passes (the second accumulates into existing .grad).
function step(checkpointing: boolean): Float32Array[] {
  const model = new TinyLM(cfg, 5);
  model.gradientCheckpointing = checkpointing;
  const out: Float32Array[] = [];
  for (let pass = 0; pass < 2; pass++) {
    fillFree(Number.NaN);
    const loss = model.loss(ids, B, T, pass === 0 ? segments : null);
    out.push(Float32Array.of(loss.item()));
    backward(loss);
  }
  return [...out, ...model.parameters().map((p) => p.grad!.slice())];
}

function assertFinite(values: Float32Array[]): void {
  for (const v of values) assert.ok(v.every(Number.isFinite), 'a NaN from a poisoned buffer reached the result');
}

setBackend('reference');
const reference = { plain: step(false), checkpointed: step(true) };

test('reference: no kernel reads a stale output buffer', () => {
  assertFinite(reference.plain);
  assertFinite(reference.checkpointed);
  assert.deepEqual(reference.checkpointed, reference.plain);
});

test('native matches the reference on a full training step', { skip: !nativeAvailable() && 'native addon not built' }, () => {
  setBackend('native');
  try {
    for (const checkpointing of [false, true]) {
      const got = step(checkpointing);
      assertFinite(got);
      for (let i = 0; i < got.length; i++) {
        const diff = maxAbsDiff(got[i], reference.plain[i]);
        assert.ok(diff <= 1e-4 * Math.max(1, maxAbs(reference.plain[i])), `tensor ${i} differs by ${diff}`);
      }
    }
  } finally {
    setBackend('reference');
  }
});

test('native matches the reference: matmul layouts, bf16 frozen linear, fused LM-head loss', { skip: !nativeAvailable() && 'native addon not built' }, () => {
  const r = rng(61);
  const x = randn([3, 7, 40], r);
  const w = Tensor.fromBf16(f32ToBf16(randn([24, 40], r).data), [24, 40]);
  const a = randn([2, 40, 9], r);
  const b = randn([2, 11, 40], r);
  const targets = Int32Array.from({ length: 21 }, (_, i) => (i % 4 === 0 ? -100 : i % 24));
  const run = (): Float32Array[] => {
    const xs = Tensor.from(x.data.slice(), x.shape);
    xs.requiresGrad = true;
    const as = Tensor.from(a.data.slice(), a.shape);
    as.requiresGrad = true;
    const head = Tensor.from(a.data.slice(0, 13 * 40), [13, 40]);
    head.requiresGrad = true;
    const y = ops.linear(xs, w); // (3, 7, 24), frozen bf16 weight
    const z = ops.matmul(as, b, { transA: true, transB: true }); // (2, 9, 11)
    const fused = linearCrossEntropy(xs, head, targets.map((t) => (t === -100 ? t : t % 13)), 9, { chunkRows: 4 });
    const loss = ops.add(
      ops.add(ops.crossEntropy(ops.reshape(y, [21, 24]), targets, 15), ops.crossEntropy(ops.reshape(z, [18, 11]), new Int32Array(18).fill(3), 18)),
      fused,
    );
    const out = [y.data.slice(), z.data.slice(), Float32Array.of(loss.item())];
    backward(loss);
    return [...out, xs.grad!, as.grad!, head.grad!];
  };
  const want = run();
  setBackend('native');
  try {
    const got = run();
    for (let i = 0; i < got.length; i++) {
      const diff = maxAbsDiff(got[i], want[i]);
      assert.ok(diff <= 1e-5 * Math.max(1, maxAbs(want[i])), `output ${i} differs by ${diff}`);
    }
  } finally {
    setBackend('reference');
  }
});
