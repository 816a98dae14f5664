// Reference kernels against direct formulas: matmul in every layout (batched, accumulate, bf16), AdamW against
// torch.optim.AdamW, and the small vector kernels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { referenceBackend as R } from '../../src/backend/reference.js';
import { bf16ToF32, f32ToBf16 } from '../../src/tensor/tensor.js';
import { maxAbsDiff, randn, rng } from '../tensor/helpers.js';

// C[p, i, j] = sum_k A[p, i, k] B[p, k, j] with the stored layouts spelled out index by index.
function naiveMatmul(a: Float32Array, b: Float32Array, batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean): Float64Array {
  const c = new Float64Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[p * M * K + k * M + i] : a[p * M * K + i * K + k];
          const bv = transB ? b[p * K * N + j * K + k] : b[p * K * N + k * N + j];
          s += av * bv;
        }
        c[p * M * N + i * N + j] = s;
      }
    }
  }
  return c;
}

test('matmul: every layout, batched, overwrite and accumulate', () => {
  const r = rng(51);
  const [batch, M, N, K] = [3, 70, 5, 9]; // M > 64 crosses a row block
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = randn([batch * M * K], r).data;
      const b = randn([batch * K * N], r).data;
      const expected = naiveMatmul(a, b, batch, M, N, K, transA, transB);
      const c = new Float32Array(batch * M * N).fill(Number.NaN);
      R.matmul(a, b, c, { batch, M, N, K, transA, transB, accumulate: false });
      assert.ok(maxAbsDiff(c, expected) < 1e-5, `transA=${transA} transB=${transB}`);
      c.fill(1);
      R.matmul(a, b, c, { batch, M, N, K, transA, transB, accumulate: true });
      assert.ok(maxAbsDiff(c, expected.map((x) => x + 1)) < 1e-5, `accumulate transA=${transA} transB=${transB}`);
    }
  }
});

test('matmulBf16 equals matmul on bf16-rounded activations and the widened weight', () => {
  const r = rng(52);
  const [M, N, K] = [4, 6, 8];
  const a = randn([M * K], r).data;
  const bits = f32ToBf16(randn([K * N], r).data);
  for (const transB of [false, true]) {
    const want = new Float32Array(M * N);
    const unrounded = new Float32Array(M * N);
    const got = new Float32Array(M * N);
    const args = { batch: 1, M, N, K, transA: false, transB, accumulate: false };
    R.matmul(bf16ToF32(f32ToBf16(a)), bf16ToF32(bits), want, args);
    R.matmul(a, bf16ToF32(bits), unrounded, args);
    R.matmulBf16(a, bits, got, args);
    assert.deepEqual(got, want);
    assert.notDeepEqual(got, unrounded);
  }
});

test('bf16 conversion rounds to nearest even and keeps NaN', () => {
  const x = Float32Array.of(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, Number.NaN, Number.POSITIVE_INFINITY);
  const back = bf16ToF32(f32ToBf16(x));
  assert.deepEqual(Array.from(back.subarray(0, 4)), [1, 1, 1 + 2 ** -6, -2.5]);
  assert.ok(Number.isNaN(back[4]));
  assert.equal(back[5], Number.POSITIVE_INFINITY);
});

test('adamw follows torch.optim.AdamW over 5 steps', () => {
  const g = JSON.parse(readFileSync('test/fixtures/tensor/adamw_golden.json', 'utf8'));
  const p = Float32Array.from(g.start as number[]);
  const m = new Float32Array(p.length);
  const v = new Float32Array(p.length);
  for (let step = 1; step <= g.grads.length; step++) {
    const grad = Float32Array.from(g.grads[step - 1] as number[]);
    R.adamw(p, grad, m, v, p.length, g.lr, g.beta1, g.beta2, g.eps, g.weightDecay, 1 - g.beta1 ** step, 1 - g.beta2 ** step);
    assert.ok(maxAbsDiff(p, g.trajectory[step - 1]) < 1e-6, `step ${step}: ${maxAbsDiff(p, g.trajectory[step - 1])}`);
  }
  assert.ok(maxAbsDiff(m, g.expAvg) < 1e-6);
  assert.ok(maxAbsDiff(v, g.expAvgSq) < 1e-7);
});

test('crossEntropy kernel: losses, log-sum-exp, ignored rows', () => {
  const logits = Float32Array.of(0, 1, 2, 5, 5, 5);
  const losses = new Float32Array(2);
  const lse = new Float32Array(2);
  R.crossEntropy(logits, Int32Array.of(2, -100), losses, lse, 2, 3);
  const l0 = Math.log(1 + Math.E + Math.E ** 2);
  assert.ok(Math.abs(lse[0] - l0) < 1e-6 && Math.abs(lse[1] - (5 + Math.log(3))) < 1e-6);
  assert.ok(Math.abs(losses[0] - (l0 - 2)) < 1e-6);
  assert.equal(losses[1], 0);
  const d = new Float32Array(6).fill(9);
  R.crossEntropyBackward(logits, Int32Array.of(2, -100), lse, Float32Array.of(2, 2), d, 2, 3);
  assert.ok(Math.abs(d[2] - 2 * (Math.exp(2 - l0) - 1)) < 1e-6);
  assert.deepEqual(Array.from(d.subarray(3)), [0, 0, 0]);
});

test('vector kernels: sumSquares in float64, scale, add in place, mul, axpy, embedding scatter', () => {
  const x = Float32Array.of(4096, 1, -1, 3); // 2^24 + 11 is not a float32
  assert.equal(R.sumSquares(x, 4), 2 ** 24 + 11);
  const y = Float32Array.of(1, 2, 3, 4);
  R.add(y, Float32Array.of(1, 1, 1, 1), y, 4);
  assert.deepEqual(Array.from(y), [2, 3, 4, 5]);
  R.scale(y, 0.5, 4);
  assert.deepEqual(Array.from(y), [1, 1.5, 2, 2.5]);
  R.mul(y, y, y, 2);
  assert.deepEqual(Array.from(y), [1, 2.25, 2, 2.5]);
  R.axpy(-2, Float32Array.of(1, 1, 1, 1), y, 3);
  assert.deepEqual(Array.from(y), [-1, 0.25, 0, 2.5]);
  const dW = new Float32Array(6);
  R.embeddingBackward(Float32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(2, 0, 2), dW, 2);
  assert.deepEqual(Array.from(dW), [3, 4, 0, 0, 6, 8]);
});

test('backend selection: RETUNE_BACKEND=reference is silent, an unknown name is a usage error', () => {
  const probe = "import('./dist/src/backend/index.js').then((m) => console.log(m.getBackend().name))";
  const run = (value: string) => spawnSync(process.execPath, ['-e', probe], { env: { ...process.env, RETUNE_BACKEND: value }, encoding: 'utf8' });
  const reference = run('reference');
  assert.equal(reference.stdout.trim(), 'reference');
  assert.equal(reference.stderr, '');
  const bad = run('cuda');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /RETUNE_BACKEND must be 'reference' or 'native', got 'cuda'/);
});
