// The tape: accumulation across backward calls, noGrad, released intermediates, clearTape, and checkpoint
// recomputation giving the same gradients as the plain pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, setBackend } from '../../src/backend/index.js';
import { backward, checkpoint, clearTape, dropUntilBackward, noGrad, replayable, tapeLength } from '../../src/tensor/autograd.js';
import * as ops from '../../src/tensor/ops.js';
import { poolStats } from '../../src/tensor/pool.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { param, randn, rng } from './helpers.js';

setBackend('reference');

function lossOf(x: Tensor, w1: Tensor, w2: Tensor): Tensor {
  const h = ops.swiglu(ops.linear(x, w1), ops.linear(x, w2)); // (N, H)
  return ops.crossEntropy(h, Int32Array.from([1, 0, -100, 2]), 3);
}

test('two backward passes accumulate into parameter .grad', () => {
  const r = rng(41);
  const x = randn([4, 5], r);
  const [w1, w2] = [param([3, 5], r), param([3, 5], r)];
  backward(lossOf(x, w1, w2));
  const once = w1.grad!.slice();
  backward(lossOf(x, w1, w2));
  const twice = w1.grad!;
  for (let i = 0; i < once.length; i++) assert.ok(Math.abs(twice[i] - 2 * once[i]) < 1e-6);
  assert.equal(tapeLength(), 0);
});

test('noGrad records nothing; no-grad inputs record nothing', () => {
  const r = rng(42);
  const w = param([3, 5], r);
  const y = noGrad(() => ops.linear(randn([2, 5], r), w));
  assert.equal(tapeLength(), 0);
  assert.equal(y.requiresGrad, false);
  ops.linear(randn([2, 5], r), randn([3, 5], r));
  assert.equal(tapeLength(), 0);
  assert.throws(() => backward(y), /does not require grad/);
});

test('backward releases intermediates (stale reads fail) but keeps the loss', () => {
  const r = rng(43);
  const x = randn([4, 5], r);
  const [w1, w2] = [param([3, 5], r), param([3, 5], r)];
  const h = ops.linear(x, w1);
  const loss = ops.crossEntropy(ops.mul(h, ops.linear(x, w2)), Int32Array.from([0, 1, 2, 0]), 4);
  const value = loss.item();
  backward(loss);
  assert.equal(loss.item(), value);
  assert.throws(() => backward(loss), /backward\(\) already ran on it/);
  assert.ok(h.released);
  assert.throws(() => h.values(), /released by backward/);
  const live = poolStats().liveBytes;
  assert.throws(() => ops.add(h, h), /released by an earlier backward/);
  assert.equal(poolStats().liveBytes, live, 'a rejected op takes no buffer');
});

test('clearTape drops a forward without backward and returns its buffers', () => {
  const r = rng(44);
  const x = randn([4, 5], r);
  const [w1, w2] = [param([3, 5], r), param([3, 5], r)];
  const live = poolStats().liveBytes;
  lossOf(x, w1, w2);
  assert.ok(tapeLength() > 0);
  assert.ok(poolStats().liveBytes > live);
  clearTape();
  assert.equal(tapeLength(), 0);
  assert.equal(poolStats().liveBytes, live);
  assert.equal(w1.grad, null);
});

test('checkpoint gives the same loss and gradients as the plain pass', () => {
  const r = rng(45);
  const x = param([4, 6], r);
  const w1 = param([6, 6], r);
  const norm = param([6], r);
  const w2 = param([5, 6], r);
  const block = ([h]: Tensor[]): Tensor => ops.add(h, ops.linear(ops.rmsnorm(h, norm, 1e-5), w1));
  const run = (useCheckpoint: boolean): { loss: number; grads: Float32Array[] } => {
    for (const p of [x, w1, norm, w2]) p.grad = null;
    const h = useCheckpoint ? checkpoint(block, [x]) : block([x]);
    const h2 = useCheckpoint ? checkpoint(block, [h]) : block([h]);
    const loss = ops.crossEntropy(ops.linear(h2, w2), Int32Array.from([4, 0, 2, -100]), 3);
    const value = loss.item();
    backward(loss);
    return { loss: value, grads: [x, w1, norm, w2].map((p) => p.grad!.slice()) };
  };
  const plain = run(false);
  const live = poolStats().liveBytes;
  const ckpt = run(true);
  assert.equal(poolStats().liveBytes, live, 'every buffer went back to the pool');
  assert.equal(ckpt.loss, plain.loss);
  for (let i = 0; i < plain.grads.length; i++) assert.deepEqual(Array.from(ckpt.grads[i]), Array.from(plain.grads[i]));
});

test('dropUntilBackward gives the buffer back now and the same gradients bit for bit', () => {
  const r = rng(47);
  const x = param([6, 5], r);
  const [wg, wu] = [param([8, 5], r), param([8, 5], r)];
  const wd = param([4, 8], r);
  const run = (drop: boolean): { loss: number; grads: Float32Array[]; liveAtLoss: number } => {
    for (const p of [x, wg, wu, wd]) p.grad = null;
    const h = ops.swiglu(ops.linear(x, wg), ops.linear(x, wu)); // (6, 8)
    const y = ops.linear(h, wd); // dW reads h: made again for this rule
    if (drop) {
      dropUntilBackward(h);
      assert.throws(() => ops.add(h, h), /dropped until backward/);
    }
    const loss = ops.crossEntropy(y, Int32Array.from([0, 3, -100, 1, 2, 2]), 5);
    const liveAtLoss = poolStats().liveBytes;
    const value = loss.item();
    backward(loss);
    assert.ok(h.released && !h.dropped);
    return { loss: value, grads: [x, wg, wu, wd].map((p) => p.grad!.slice()), liveAtLoss };
  };
  const before = poolStats().liveBytes;
  const plain = run(false);
  const dropped = run(true);
  assert.equal(poolStats().liveBytes, before, 'every buffer went back to the pool');
  assert.equal(dropped.loss, plain.loss);
  for (let i = 0; i < plain.grads.length; i++) assert.deepEqual(Array.from(dropped.grads[i]), Array.from(plain.grads[i]));
  // h (6 x 8 floats, size class 48) is not held between the forward and backward.
  assert.equal(plain.liveAtLoss - dropped.liveAtLoss, 48 * 4);
});

test('a dropped tensor read by several ops is made again once, and given back by its producer\'s turn', () => {
  const r = rng(49);
  const x = param([6, 5], r);
  const [wg, wu, w1, w2] = [param([8, 5], r), param([8, 5], r), param([4, 8], r), param([4, 8], r)];
  const before = poolStats().liveBytes;
  const h = ops.swiglu(ops.linear(x, wg), ops.linear(x, wu)); // (6, 8), read by two linears
  const y = ops.add(ops.linear(h, w1), ops.linear(h, w2));
  dropUntilBackward(h);
  const loss = ops.crossEntropy(y, Int32Array.from([0, 3, -100, 1, 2, 2]), 5);
  const backend = getBackend();
  const swiglu = backend.swiglu;
  let runs = 0;
  backend.swiglu = (...args) => {
    runs++;
    swiglu(...args);
  };
  try {
    backward(loss);
  } finally {
    backend.swiglu = swiglu;
  }
  assert.equal(runs, 1);
  assert.equal(poolStats().liveBytes, before, 'every buffer went back to the pool, the remade one too');
  assert.ok(h.released && !h.dropped);
});

test('dropUntilBackward refuses an op it cannot make again and ignores unrecorded tensors', () => {
  const r = rng(48);
  const w = param([3, 5], r);
  const y = ops.linear(randn([2, 5], r), w);
  assert.throws(() => dropUntilBackward(y), /linear outputs cannot be made again/);
  clearTape();
  const z = noGrad(() => ops.swiglu(randn([2, 3], r), randn([2, 3], r)));
  dropUntilBackward(z);
  assert.equal(z.dropped, false);
  assert.equal(z.values().length, 6);
});

test('replayable values (dropout masks) repeat in the recomputation and are drawn once', () => {
  const r = rng(46);
  const x = param([4, 6], r);
  const w = param([3, 6], r);
  const run = (useCheckpoint: boolean): { grads: Float32Array[]; draws: number } => {
    const masks = rng(99);
    let draws = 0;
    const block = ([h]: Tensor[]): Tensor => {
      const mask = replayable(() => {
        draws++;
        return Tensor.from(Array.from({ length: h.size }, () => (masks() < 0.3 ? 0 : 1 / 0.7)), h.shape);
      });
      return ops.mul(h, mask);
    };
    x.grad = null;
    w.grad = null;
    const inner = useCheckpoint ? checkpoint(block, [x]) : block([x]);
    const twice = useCheckpoint ? checkpoint(([h]) => checkpoint(block, [h]), [inner]) : block([inner]);
    backward(ops.crossEntropy(ops.linear(twice, w), Int32Array.from([0, 1, 2, 1]), 4));
    return { grads: [x.grad!.slice(), w.grad!.slice()], draws };
  };
  const plain = run(false);
  const ckpt = run(true);
  assert.equal(ckpt.draws, plain.draws);
  assert.deepEqual(ckpt.grads, plain.grads);
});
