// linearGrads against plain loops, on both backends: the paired call (dx and dw), each alone, a bf16 frozen weight,
// and accumulation into existing gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAvailable, setBackend } from '../../src/backend/index.js';
import { linearGrads } from '../../src/tensor/linear-grads.js';
import { bf16ToF32, f32ToBf16, Tensor } from '../../src/tensor/tensor.js';
import { maxAbsDiff, randn, rng } from './helpers.js';

// dx (N, in) = g (N, out) @ w (out, in); dw (out, in) = g^T @ x (N, in)
function naive(g: Float32Array, w: Float32Array, x: Float32Array, N: number, outF: number, inF: number) {
  const dx = new Float32Array(N * inF), dw = new Float32Array(outF * inF);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inF; i++) {
        dx[n * inF + i] += g[n * outF + o] * w[o * inF + i];
        dw[o * inF + i] += g[n * outF + o] * x[n * inF + i];
      }
  return { dx, dw };
}

const backends = nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const);

test('linearGrads: dx and dw together, each alone, accumulating, bf16 weight', () => {
  const r = rng(5);
  const [N, inF, outF] = [37, 29, 43];
  const g = randn([N, outF], r).data, x = randn([N, inF], r).data;
  const w = randn([outF, inF], r);
  const expected = naive(g, w.data, x, N, outF, inF);
  for (const name of backends) {
    setBackend(name);
    const dx = new Float32Array(N * inF), dw = new Float32Array(outF * inF).fill(1);
    linearGrads(g, w, x, N, { buf: dx, accumulate: false }, { buf: dw, accumulate: true });
    assert.ok(maxAbsDiff(dx, expected.dx) < 1e-4, `${name} dx`);
    assert.ok(maxAbsDiff(dw, expected.dw.map((v) => v + 1)) < 1e-4, `${name} dw accumulated onto 1`);

    const dxOnly = new Float32Array(N * inF).fill(9);
    linearGrads(g, w, x, N, { buf: dxOnly, accumulate: false }, null);
    assert.deepEqual(dxOnly, dx, `${name} dx alone gives the paired bits`);
    const dwOnly = new Float32Array(outF * inF).fill(1);
    linearGrads(g, w, x, N, null, { buf: dwOnly, accumulate: true });
    assert.deepEqual(dwOnly, dw, `${name} dw alone gives the paired bits`);

    const frozen = Tensor.fromBf16(f32ToBf16(w.data), w.shape);
    // The bf16 product rounds g to bf16 as well (PyTorch's bf16 backward sees a bf16 upstream gradient).
    const widened = naive(bf16ToF32(f32ToBf16(g)), bf16ToF32(frozen.bf16 as Uint16Array), x, N, outF, inF);
    const dxFrozen = new Float32Array(N * inF);
    linearGrads(g, frozen, x, N, { buf: dxFrozen, accumulate: false }, null);
    assert.ok(maxAbsDiff(dxFrozen, widened.dx) < 1e-4, `${name} dx through a bf16 weight`);
  }
  setBackend(nativeAvailable() ? 'native' : 'reference');
});
