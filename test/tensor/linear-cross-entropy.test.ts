// The fused LM-head loss against linear() + crossEntropy(), and its gradients against central differences, with
// ignored rows and several chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/index.js';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { countedRows, linearCrossEntropy } from '../../src/tensor/linear-cross-entropy.js';
import { crossEntropy, linear, reshape } from '../../src/tensor/ops.js';
import { bf16ToF32, f32ToBf16, Tensor } from '../../src/tensor/tensor.js';
import { gradError, maxAbs, maxAbsDiff, randn, rng } from './helpers.js';

setBackend('reference');
const targets = Int32Array.from([3, -100, 0, 6, -100, -100, 2, 1, 5, -100, 4, 6]);

test('gradients of hidden states and head weight match central differences', () => {
  const r = rng(71);
  const inputs = [randn([3, 4, 5], r), randn([7, 5], r)];
  for (const chunkRows of [1, 3, 100]) {
    const err = gradError(([h, w]) => linearCrossEntropy(h, w, targets, 5, { chunkRows }), inputs, [0, 1]);
    assert.ok(err < 5e-4, `chunkRows=${chunkRows}: relative error ${err}`);
  }
});

test('same loss and gradients as linear() then crossEntropy(), ignored rows get zero gradient', () => {
  const run = (fused: boolean): Float32Array[] => {
    const r2 = rng(73);
    const h = randn([12, 5], r2);
    const w = randn([7, 5], r2);
    h.requiresGrad = true;
    w.requiresGrad = true;
    const loss = fused ? linearCrossEntropy(h, w, targets, 8, { chunkRows: 2 }) : crossEntropy(linear(h, w), targets, 8);
    const value = loss.item();
    backward(loss);
    return [Float32Array.of(value), h.grad!, w.grad!];
  };
  const [plain, fused] = [run(false), run(true)];
  for (let i = 0; i < 3; i++) assert.ok(maxAbsDiff(fused[i], plain[i]) < 1e-6 * Math.max(1, maxAbs(plain[i])), `output ${i}`);
  assert.deepEqual(Array.from(fused[1].subarray(5, 10)), [0, 0, 0, 0, 0]);
});

test('a frozen bf16 head passes gradient to the hidden states only', () => {
  const r = rng(74);
  const wf = randn([7, 5], r);
  const bits = f32ToBf16(wf.data);
  const wb = Tensor.fromBf16(bits, [7, 5]);
  const widened = Tensor.from(bf16ToF32(bits), [7, 5]);
  // bf16-valued hidden states: the bf16 logits are the float32 ones, so the losses agree to float32 rounding.
  const h = Tensor.from(bf16ToF32(f32ToBf16(randn([3, 4, 5], r).data)), [3, 4, 5]);
  const a = noGrad(() => linearCrossEntropy(h, wb, targets, 5).item());
  const b = noGrad(() => crossEntropy(reshape(linear(h, widened), [12, 7]), targets, 5).item());
  assert.ok(Math.abs(a - b) < 1e-6);
  // Backward, the logits' gradient is rounded to bf16 before it meets the head: dh within bf16 rounding.
  const gradThrough = (fused: boolean): Float32Array => {
    const x = Tensor.from(h.data.slice(), h.shape);
    x.requiresGrad = true;
    backward(fused ? linearCrossEntropy(x, wb, targets, 5, { chunkRows: 4 }) : crossEntropy(reshape(linear(x, widened), [12, 7]), targets, 5));
    return x.grad!;
  };
  const [viaBf16, viaF32] = [gradThrough(true), gradThrough(false)];
  assert.ok(maxAbsDiff(viaBf16, viaF32) < 1e-2 * maxAbs(viaF32), 'dh within bf16 rounding of the float32 one');
  assert.equal(wb.grad, null);
});

test('bad input is named', () => {
  const r = rng(75);
  const [h, w] = [randn([12, 5], r), randn([7, 5], r)];
  assert.throws(() => linearCrossEntropy(h, w, targets.map((t) => (t === 6 ? 7 : t)), 1), /target 7 at row 3/);
  assert.throws(() => linearCrossEntropy(h, randn([7, 4], r), targets, 1), /does not match weight/);
  assert.throws(() => linearCrossEntropy(h, w, targets, 1, { chunkRows: 0 }), /chunkRows must be a positive integer/);
});

test('a second backward adds its gradients to the first, into existing .grad buffers', () => {
  const r = rng(76);
  const [h, w] = [randn([12, 5], r), randn([7, 5], r)];
  h.requiresGrad = true;
  w.requiresGrad = true;
  backward(linearCrossEntropy(h, w, targets, 8, { chunkRows: 3 }));
  const once = [h.grad!.slice(), w.grad!.slice()];
  const buffers = [h.grad, w.grad];
  backward(linearCrossEntropy(h, w, targets, 8, { chunkRows: 3 }));
  assert.ok(h.grad === buffers[0] && w.grad === buffers[1], 'gradients reuse their buffers');
  assert.deepEqual(Array.from(h.grad!), Array.from(once[0], (g) => g + g));
  assert.deepEqual(Array.from(w.grad!), Array.from(once[1], (g) => g + g));
});

test('loss rows go in as few chunks as the logits budget allows, as even as whole 32-row blocks allow', () => {
  const targets = (n: number, counted: number): Int32Array =>
    Int32Array.from({ length: n }, (_, i) => (i < n - counted ? -100 : i % 7));
  // Qwen's vocab: 110 rows fit the 64 MiB budget, but a chunk may take 256 rows (150 MiB): 246 counted rows of 512 go
  // in one chunk, 600 of 1024 as 224 + 224 + 152.
  const qwen = countedRows(targets(512, 246), 151936);
  assert.deepEqual([qwen.rows.length, qwen.chunk], [246, 256]);
  assert.equal(qwen.rows[0], 512 - 246);
  assert.equal(countedRows(targets(1024, 600), 151936).chunk, 224);
  // A 32k vocab with 2040 rows (B=8, T=256): 4 chunks of 512 (the last 504).
  assert.equal(countedRows(targets(2048, 2040), 32000).chunk, 512);
  // Few rows: one chunk holding them all, rounded up to a block; a budget below one block is kept.
  assert.equal(countedRows(targets(20, 5), 32000).chunk, 32);
  assert.equal(countedRows(targets(40, 40), 1 << 22).chunk, 16);
  // A vocabulary of 1M: 256 rows would take 1 GiB, so only the 4x budget's 64 rows.
  assert.equal(countedRows(targets(200, 200), 1 << 20).chunk, 64);
  // An explicit chunk size is taken as given.
  assert.equal(countedRows(targets(40, 40), 32000, 7).chunk, 7);
});
