// A tiny transformer trained for 200 steps: memory must stay flat (the pool reuses every intermediate), the loss
// must fall, and per-layer gradient checkpointing must reproduce the plain pass bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, setBackend } from '../../src/backend/index.js';
import { backward } from '../../src/tensor/autograd.js';
import { poolStats } from '../../src/tensor/pool.js';
import { TinyLM } from './tiny.js';
import { rng } from '../tensor/helpers.js';

setBackend('reference');
const cfg = { V: 64, C: 32, nLayer: 2, nHead: 4, nKV: 2, hidden: 64 };
const [B, T] = [2, 32];

function batch(seed: number): Int32Array {
  const r = rng(seed);
  // A learnable pattern: each row counts up from a random start, modulo V.
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = Math.floor(r() * cfg.V);
    for (let t = 0; t < T; t++) ids[b * T + t] = (start + t) % cfg.V;
  }
  return ids;
}

function sgdStep(model: TinyLM, lr: number): void {
  const backend = getBackend();
  for (const p of model.parameters()) {
    backend.axpy(-lr, p.grad!, p.data, p.size);
    p.grad!.fill(0);
  }
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test('200 training steps: pool allocations and process memory stay flat, loss falls', () => {
  const model = new TinyLM(cfg, 1);
  const losses: number[] = [];
  const memoryAt: number[] = [];
  let poolAt20 = 0;
  for (let step = 1; step <= 200; step++) {
    const loss = model.loss(batch(step % 10), B, T);
    backward(loss);
    sgdStep(model, 0.05);
    losses.push(loss.item());
    memoryAt.push(memory());
    if (step === 20) poolAt20 = poolStats().allocatedBytes;
  }
  // Every step needs the same buffers, so after warm-up the pool never allocates again.
  assert.equal(poolStats().allocatedBytes, poolAt20);
  // The lowest reading of a window is the one just after a GC, which is the live set plus little garbage.
  const base = Math.min(...memoryAt.slice(20, 40));
  const end = Math.min(...memoryAt.slice(180, 200));
  const bound = 8 * 2 ** 20;
  assert.ok(end - base < bound, `memory grew by ${((end - base) / 2 ** 20).toFixed(1)} MiB between steps 20-40 and 180-200`);
  // The bound must be able to fail: keeping each step's working set alive would add far more than it.
  assert.ok(160 * poolAt20 > 4 * bound, `working set ${poolAt20} bytes is too small for the bound to mean anything`);
  assert.ok(losses[199] < losses[0] * 0.5, `loss ${losses[0]} -> ${losses[199]}`);
});

test('with gradient checkpointing the pool also stops allocating after warm-up', () => {
  const model = new TinyLM(cfg, 3);
  model.gradientCheckpointing = true;
  let poolAt10 = 0;
  for (let step = 1; step <= 40; step++) {
    backward(model.loss(batch(step % 10), B, T));
    sgdStep(model, 0.05);
    if (step === 10) poolAt10 = poolStats().allocatedBytes;
  }
  assert.equal(poolStats().allocatedBytes, poolAt10);
  assert.equal(poolStats().liveBytes, 0);
});

test('gradient checkpointing per layer gives bit-identical loss and gradients', () => {
  const segments = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) segments[i] = i % T < 12 ? 0 : 1;
  const run = (checkpointing: boolean): Float32Array[] => {
    const model = new TinyLM(cfg, 2);
    model.gradientCheckpointing = checkpointing;
    const out: Float32Array[] = [];
    for (let step = 0; step < 3; step++) {
      const loss = model.loss(batch(step), B, T, segments);
      out.push(Float32Array.of(loss.item()));
      backward(loss);
      out.push(...model.parameters().map((p) => p.grad!.slice()));
      sgdStep(model, 0.05);
    }
    return out;
  };
  const plain = run(false);
  const ckpt = run(true);
  assert.equal(ckpt.length, plain.length);
  for (let i = 0; i < plain.length; i++) assert.deepEqual(ckpt[i], plain[i]);
});
