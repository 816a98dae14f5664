// The streaming attention kernel against a naive O(T^2) softmax (with and without a sliding window), and cached
// (generation) attention against the full causal pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { attentionCached } from '../../src/tensor/decode.js';
import { attention } from '../../src/tensor/ops.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { maxAbsDiff, randn, rng } from './helpers.js';

setBackend('reference');

// Materialises the full (T, T) score matrix per head: masked where j > i, i - j >= window or segments differ, then
// softmax.
function naive(q: Tensor, k: Tensor, v: Tensor, scale: number, segments: Int32Array | null, window: number | null = null): Float32Array {
  const [B, T, nHead, hd] = q.shape;
  const nKV = k.shape[2];
  const out = new Float32Array(q.size);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor((h * nKV) / nHead);
      for (let i = 0; i < T; i++) {
        const scores: number[] = [];
        for (let j = 0; j < T; j++) {
          const visible = j <= i && (window === null || i - j < window) &&
            (segments === null || segments[b * T + j] === segments[b * T + i]);
          let s = 0;
          for (let d = 0; d < hd; d++) s += q.data[((b * T + i) * nHead + h) * hd + d] * k.data[((b * T + j) * nKV + g) * hd + d];
          scores.push(visible ? s * scale : -Infinity);
        }
        const m = Math.max(...scores);
        const p = scores.map((s) => Math.exp(s - m));
        const z = p.reduce((a, c) => a + c, 0);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += (p[j] / z) * v.data[((b * T + j) * nKV + g) * hd + d];
          out[((b * T + i) * nHead + h) * hd + d] = acc;
        }
      }
    }
  }
  return out;
}

const cases: [string, number, number, Int32Array | null][] = [
  ['multi-head', 4, 4, null],
  ['GQA 4:2', 4, 2, null],
  ['MQA 6:1', 6, 1, null],
  ['GQA with packed segments', 4, 2, Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2, 5, 5, 5, 5, 5, 5, 6, 6])],
];

for (const [name, nHead, nKV, segments] of cases) {
  test(`attention matches naive softmax: ${name}`, () => {
    const r = rng(nHead * 10 + nKV);
    const [B, T, hd] = [2, 8, 4];
    const q = randn([B, T, nHead, hd], r, 2);
    const k = randn([B, T, nKV, hd], r, 2);
    const v = randn([B, T, nKV, hd], r);
    const y = noGrad(() => attention(q, k, v, { scale: hd ** -0.5, segments }));
    const diff = maxAbsDiff(y.data, naive(q, k, v, hd ** -0.5, segments));
    assert.ok(diff < 1e-6, `differs by ${diff}`);
  });
}

for (const window of [1, 3, 5, 8, 20]) {
  for (const [name, nHead, nKV, segments] of cases) {
    test(`sliding-window attention matches naive masked softmax: window ${window}, ${name}`, () => {
      const r = rng(nHead * 10 + nKV + window * 100);
      const [B, T, hd] = [2, 8, 4];
      const q = randn([B, T, nHead, hd], r, 2);
      const k = randn([B, T, nKV, hd], r, 2);
      const v = randn([B, T, nKV, hd], r);
      const y = noGrad(() => attention(q, k, v, { scale: hd ** -0.5, segments, window }));
      const diff = maxAbsDiff(y.data, naive(q, k, v, hd ** -0.5, segments, window));
      assert.ok(diff < 1e-6, `differs by ${diff}`);
    });
  }
}

test('packed samples do not see each other: changing one segment leaves the other unchanged', () => {
  const r = rng(31);
  const [B, T, nHead, hd] = [1, 6, 2, 4];
  const segments = Int32Array.from([0, 0, 0, 1, 1, 1]);
  const q = randn([B, T, nHead, hd], r);
  const k = randn([B, T, nHead, hd], r);
  const v = randn([B, T, nHead, hd], r);
  const before = noGrad(() => attention(q, k, v, { scale: 0.5, segments })).data.slice();
  for (let i = 0; i < 3 * nHead * hd; i++) {
    k.data[i] += 1;
    v.data[i] -= 2;
  }
  const after = noGrad(() => attention(q, k, v, { scale: 0.5, segments })).data;
  const second = 3 * nHead * hd;
  assert.deepEqual(Array.from(after.subarray(second)), Array.from(before.subarray(second)));
  assert.notDeepEqual(Array.from(after.subarray(0, second)), Array.from(before.subarray(0, second)));
});

// The last Tq token rows of each batch row of x (B, T, ...), row = the elements per token.
function lastRows(x: Float32Array, B: number, T: number, Tq: number, row: number): Float32Array {
  const out = new Float32Array(B * Tq * row);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * T + T - Tq) * row, (b + 1) * T * row), b * Tq * row);
  return out;
}

test('cached attention over a prefix equals the last rows of full causal attention', () => {
  const r = rng(32);
  const [B, T, nHead, nKV, hd, Tq] = [2, 7, 4, 2, 4, 3];
  const q = randn([B, T, nHead, hd], r);
  const k = randn([B, T, nKV, hd], r);
  const v = randn([B, T, nKV, hd], r);
  const full = noGrad(() => attention(q, k, v, { scale: 0.5, segments: null }));
  const lastQ = lastRows(q.data, B, T, Tq, nHead * hd);
  const expected = lastRows(full.data, B, T, Tq, nHead * hd);
  const y = noGrad(() => attentionCached(Tensor.from(lastQ, [B, Tq, nHead, hd]), k, v, 0.5));
  assert.ok(maxAbsDiff(y.data, expected) < 1e-6);
  q.requiresGrad = true;
  assert.throws(() => attentionCached(q, k, v, 0.5), /inference only/);
});

test('cached attention with a sliding window equals the last rows of full windowed attention', () => {
  const r = rng(34);
  const [B, T, nHead, nKV, hd, Tq] = [2, 11, 4, 2, 4, 5];
  const q = randn([B, T, nHead, hd], r);
  const k = randn([B, T, nKV, hd], r);
  const v = randn([B, T, nKV, hd], r);
  for (const window of [1, 3, 4, 11]) {
    const full = noGrad(() => attention(q, k, v, { scale: 0.5, segments: null, window }));
    const lastQ = lastRows(q.data, B, T, Tq, nHead * hd);
    const expected = lastRows(full.data, B, T, Tq, nHead * hd);
    const y = noGrad(() => attentionCached(Tensor.from(lastQ, [B, Tq, nHead, hd]), k, v, 0.5, window));
    assert.ok(maxAbsDiff(y.data, expected) < 1e-6, `window ${window}`);
  }
  const plain = noGrad(() => attentionCached(Tensor.from(q.data.slice(0, B * nHead * hd), [B, 1, nHead, hd]), k, v, 0.5));
  const windowed = noGrad(() => attentionCached(Tensor.from(q.data.slice(0, B * nHead * hd), [B, 1, nHead, hd]), k, v, 0.5, 4));
  assert.ok(maxAbsDiff(plain.data, windowed.data) > 1e-3, 'the window changes what the last query sees');
});

test('attention rejects mismatched shapes', () => {
  const r = rng(33);
  const q = randn([1, 4, 3, 2], r);
  const k = randn([1, 4, 2, 2], r);
  assert.throws(() => attention(q, k, k, { scale: 1, segments: null }), /nHead must be a multiple of nKV/);
  assert.throws(() => attention(q, randn([1, 4, 3, 2], r), randn([1, 4, 3, 2], r), { scale: 1, segments: new Int32Array(3) }), /3 segment ids for B\*T = 4/);
  for (const window of [0, 1.5, -2]) {
    assert.throws(() => attention(q, randn([1, 4, 3, 2], r), randn([1, 4, 3, 2], r), { scale: 1, segments: null, window }),
      /must be a whole number >= 1 or null/);
  }
});
