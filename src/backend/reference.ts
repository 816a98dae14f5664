// The pure-TS backend: the oracle the native kernels are tested against and the fallback when the addon cannot be
// built. Single-threaded with fixed loop orders, so results are deterministic; sums run in float64.
import type { AttentionArgs, Backend, CachedAttentionArgs, MatmulArgs } from './backend.js';

const bits32 = new Uint32Array(1);
const float32 = new Float32Array(bits32.buffer);

function bf16Value(bits: number): number {
  bits32[0] = bits << 16;
  return float32[0];
}

function widenBf16(b: Uint16Array, offset: number, n: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) out[i] = bf16Value(b[offset + i]);
}

// Every layout is brought to one form, C[i, j] = A[i, :] . B[j, :] with A (M, K) and B (N, K) row-major: operands
// stored the other way are transposed (bf16 widened) into a copy first. Four rows of A share each load of a B row,
// which is what makes this loop fast in V8; the dot products are float64 sums in a fixed order.
function matmulNT(
  a: Float32Array, c: Float32Array, cOff: number, M: number, N: number, K: number, accumulate: boolean,
  rowOfB: (j: number) => Float32Array,
): void {
  for (let j = 0; j < N; j++) {
    const b = rowOfB(j); // (K)
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const a0 = i * K;
      const [a1, a2, a3] = [a0 + K, a0 + 2 * K, a0 + 3 * K];
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < K; k++) {
        const bk = b[k];
        s0 += a[a0 + k] * bk;
        s1 += a[a1 + k] * bk;
        s2 += a[a2 + k] * bk;
        s3 += a[a3 + k] * bk;
      }
      const o = cOff + i * N + j;
      c[o] = accumulate ? c[o] + s0 : s0;
      c[o + N] = accumulate ? c[o + N] + s1 : s1;
      c[o + 2 * N] = accumulate ? c[o + 2 * N] + s2 : s2;
      c[o + 3 * N] = accumulate ? c[o + 3 * N] + s3 : s3;
    }
    for (; i < M; i++) {
      const ao = i * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[ao + k] * b[k];
      const o = cOff + i * N + j;
      c[o] = accumulate ? c[o] + s : s;
    }
  }
}

// (rows, cols) row-major -> (cols, rows) row-major, reading element r * cols + col through `at`.
function transposed(rows: number, cols: number, at: (index: number) => number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let col = 0; col < cols; col++) out[col * rows + r] = at(r * cols + col);
  return out;
}

// Batch entry p of A as a row-major (M, K) matrix: a view when stored that way, a transposed copy when transA.
function rowMajorA(a: Float32Array, p: number, M: number, K: number, transA: boolean): Float32Array {
  const block = a.subarray(p * M * K, (p + 1) * M * K);
  return transA ? transposed(K, M, (i) => block[i]) : block;
}

function matmul(a: Float32Array, b: Float32Array, c: Float32Array, args: MatmulArgs): void {
  const { batch, M, N, K, transA, transB, accumulate } = args;
  for (let p = 0; p < batch; p++) {
    const block = b.subarray(p * K * N, (p + 1) * K * N);
    const rows = transB ? block : transposed(K, N, (i) => block[i]); // (N, K)
    matmulNT(rowMajorA(a, p, M, K, transA), c, p * M * N, M, N, K, accumulate, (j) => rows.subarray(j * K, (j + 1) * K));
  }
}

function matmulPair(
  a1: Float32Array, b1: Float32Array, c1: Float32Array, args1: MatmulArgs,
  a2: Float32Array, b2: Float32Array, c2: Float32Array, args2: MatmulArgs,
): void {
  matmul(a1, b1, c1, args1);
  matmul(a2, b2, c2, args2);
}

// x rounded to the nearest bf16 (ties to even; NaN stays NaN), as a float32 value.
function roundBf16(x: Float32Array, out: Uint16Array, n: number): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const u = bits[i];
    if ((u & 0x7fffffff) > 0x7f800000) out[i] = ((u >>> 16) | 0x0040) & 0xffff;
    else out[i] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  }
}

// x rounded to bf16 and widened back to float32.
function roundedToBf16(x: Float32Array): Float32Array {
  const bits = new Uint16Array(x.length);
  roundBf16(x, bits, x.length);
  const out = new Float32Array(x.length);
  widenBf16(bits, 0, x.length, out);
  return out;
}

function matmulBf16(a: Float32Array, b: Uint16Array, c: Float32Array, args: MatmulArgs): void {
  const { batch, M, N, K, transA, transB, accumulate } = args;
  const row = new Float32Array(K);
  for (let p = 0; p < batch; p++) {
    const off = p * K * N;
    const A = roundedToBf16(rowMajorA(a, p, M, K, transA));
    if (transB) {
      // Frozen weights in the forward pass: widen one (K) row at a time, never the whole matrix.
      matmulNT(A, c, p * M * N, M, N, K, accumulate, (j) => {
        widenBf16(b, off + j * K, K, row);
        return row;
      });
    } else {
      const rows = transposed(K, N, (i) => bf16Value(b[off + i])); // (N, K)
      matmulNT(A, c, p * M * N, M, N, K, accumulate, (j) => rows.subarray(j * K, (j + 1) * K));
    }
  }
}

function rmsnorm(x: Float32Array, w: Float32Array, out: Float32Array, rstd: Float32Array, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[o + c] * x[o + c];
    const r = Math.fround(1 / Math.sqrt(ss / C + eps));
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[o + c] = w[c] * Math.fround(x[o + c] * r);
  }
}

// y = w * x * r, r = (mean(x^2) + eps)^-1/2, so dx = r * (w*dy) - x * r^3 / C * sum(w*dy*x).
function rmsnormBackward(
  dOut: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array,
  dx: Float32Array, dw: Float32Array, N: number, C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += w[c] * dOut[o + c] * x[o + c];
    const k = (dot * r * r * r) / C;
    for (let c = 0; c < C; c++) {
      dx[o + c] = r * w[c] * dOut[o + c] - x[o + c] * k;
      dw[c] += dOut[o + c] * x[o + c] * r;
    }
  }
}

function rope(
  x: Float32Array, out: Float32Array, positions: Int32Array, cos: Float32Array, sin: Float32Array,
  N: number, nHead: number, hd: number, inverse: boolean,
): void {
  const half = hd / 2;
  const sign = inverse ? -1 : 1;
  for (let n = 0; n < N; n++) {
    const row = positions[n] * half;
    for (let h = 0; h < nHead; h++) {
      const o = (n * nHead + h) * hd;
      for (let i = 0; i < half; i++) {
        const c = cos[row + i];
        const s = sign * sin[row + i];
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        out[o + i] = x1 * c - x2 * s;
        out[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

function attendable(segments: Int32Array | null, base: number, i: number, j: number): boolean {
  return segments === null || segments[base + j] === segments[base + i];
}

// First key a query at index i sees under a sliding window (0 without one): keys j with i - j < window.
function firstVisible(i: number, window: number | null): number {
  return window === null ? 0 : Math.max(0, i - window + 1);
}

// Online softmax of one query row over keys first..last (key j at kBase + j * kStride in k and v) that `keep`
// accepts: a running max m, denominator l and weighted sum acc, so no (T, T) matrix exists. Writes the output row at
// qo and returns the log-sum-exp. Shared by training attention and attention over a KV cache.
function attendRow(
  q: Float32Array, qo: number, k: Float32Array, v: Float32Array, kBase: number, kStride: number, first: number,
  last: number, scale: number, hd: number, acc: Float64Array, out: Float32Array, keep: ((j: number) => boolean) | null,
): number {
  let m = -Infinity;
  let l = 0;
  acc.fill(0);
  for (let j = first; j <= last; j++) {
    if (keep !== null && !keep(j)) continue;
    const ko = kBase + j * kStride;
    let s = 0;
    for (let d = 0; d < hd; d++) s += q[qo + d] * k[ko + d];
    s *= scale;
    if (s > m) {
      const correction = Math.exp(m - s);
      l *= correction;
      for (let d = 0; d < hd; d++) acc[d] *= correction;
      m = s;
    }
    const p = Math.exp(s - m);
    l += p;
    for (let d = 0; d < hd; d++) acc[d] += p * v[ko + d];
  }
  for (let d = 0; d < hd; d++) out[qo + d] = acc[d] / l;
  return m + Math.log(l);
}

function attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array, args: AttentionArgs): void {
  const { B, T, nHead, nKV, hd, scale, segments, window } = args;
  const group = nHead / nKV;
  const acc = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      const kBase = (b * T * nKV + g) * hd;
      for (let i = 0; i < T; i++) {
        const qo = ((b * T + i) * nHead + h) * hd;
        const keep = segments === null ? null : (j: number): boolean => attendable(segments, b * T, i, j);
        const first = firstVisible(i, window);
        lse[(b * nHead + h) * T + i] = attendRow(q, qo, k, v, kBase, nKV * hd, first, i, scale, hd, acc, out, keep);
      }
    }
  }
}

function attentionCached(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, args: CachedAttentionArgs): void {
  const { Tq, Tk, nHead, nKV, hd, scale, window } = args;
  const group = nHead / nKV;
  const acc = new Float64Array(hd);
  for (let i = 0; i < Tq; i++) {
    const p = Tk - Tq + i;
    for (let h = 0; h < nHead; h++) {
      const qo = (i * nHead + h) * hd;
      attendRow(q, qo, k, v, Math.floor(h / group) * hd, nKV * hd, firstVisible(p, window), p, scale, hd, acc, out, null);
    }
  }
}

// Recomputes p = exp(s - lse) per key; with D = dOut . out, ds = p * (dOut . v - D).
function attentionBackward(
  dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
  dq: Float32Array, dk: Float32Array, dv: Float32Array, args: AttentionArgs,
): void {
  const { B, T, nHead, nKV, hd, scale, segments, window } = args;
  const group = nHead / nKV;
  dk.fill(0);
  dv.fill(0);
  const dqi = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const qo = ((b * T + i) * nHead + h) * hd;
        const L = lse[(b * nHead + h) * T + i];
        let D = 0;
        for (let d = 0; d < hd; d++) D += dOut[qo + d] * out[qo + d];
        dqi.fill(0);
        for (let j = firstVisible(i, window); j <= i; j++) {
          if (!attendable(segments, b * T, i, j)) continue;
          const ko = ((b * T + j) * nKV + g) * hd;
          let s = 0;
          let dp = 0;
          for (let d = 0; d < hd; d++) {
            s += q[qo + d] * k[ko + d];
            dp += dOut[qo + d] * v[ko + d];
          }
          const p = Math.exp(s * scale - L);
          const ds = p * (dp - D) * scale;
          for (let d = 0; d < hd; d++) {
            dv[ko + d] += p * dOut[qo + d];
            dk[ko + d] += ds * q[qo + d];
            dqi[d] += ds * k[ko + d];
          }
        }
        for (let d = 0; d < hd; d++) dq[qo + d] = dqi[d];
      }
    }
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function crossEntropy(logits: Float32Array, targets: Int32Array, losses: Float32Array, lse: Float32Array, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, logits[o + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[o + j] - m);
    const L = m + Math.log(s);
    lse[n] = L;
    losses[n] = targets[n] === -100 ? 0 : L - logits[o + targets[n]];
  }
}

function crossEntropyBackward(
  logits: Float32Array, targets: Int32Array, lse: Float32Array, dLoss: Float32Array, dLogits: Float32Array,
  N: number, V: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const t = targets[n];
    if (t === -100) {
      dLogits.fill(0, o, o + V);
      continue;
    }
    const g = dLoss[n];
    const L = lse[n];
    for (let j = 0; j < V; j++) dLogits[o + j] = Math.exp(logits[o + j] - L) * g;
    dLogits[o + t] -= g;
  }
}

function crossEntropyWithGrad(
  logits: Float32Array, targets: Int32Array, losses: Float32Array, lse: Float32Array, dLoss: Float32Array,
  N: number, V: number,
): void {
  crossEntropy(logits, targets, losses, lse, N, V);
  crossEntropyBackward(logits, targets, lse, dLoss, logits, N, V);
}

// The low-rank products in float32 (each assignment to a Float32Array rounds once, as the native kernels do).
// y (n, r) = s * x (n, F) @ w^T: each dot product sums in 16 lanes, lane l taking the features k = l (mod 16) in
// ascending order (features past F, up to a multiple of 16, add 0); the lanes add up in float64 in lane order, and
// s times that is rounded once.
function lowRankProject(x: Float32Array, w: Float32Array, y: Float32Array, n: number, F: number, r: number, s: number): void {
  const lanes = new Float32Array(16);
  const padded = Math.ceil(F / 16) * 16;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < r; j++) {
      lanes.fill(0);
      for (let k = 0; k < padded; k++) lanes[k & 15] += k < F ? Math.fround(x[i * F + k] * w[j * F + k]) : 0;
      let sum = 0;
      for (let l = 0; l < 16; l++) sum += lanes[l];
      y[i * r + j] = s * sum;
    }
  }
}

// out (n, F) += y (n, r) @ w (r, F): t = y[i, 0] w[0, f] + y[i, 1] w[1, f] + ... (j ascending) is added to out.
function lowRankExpand(y: Float32Array, w: Float32Array, out: Float32Array, n: number, r: number, F: number): void {
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < F; f++) {
      let t = 0;
      for (let j = 0; j < r; j++) t = Math.fround(t + Math.fround(y[i * r + j] * w[j * F + f]));
      out[i * F + f] += t;
    }
  }
}

// d (r, F) (=|+=) y^T @ x: t = y[0, j] x[0, f] + y[1, j] x[1, f] + ... (i ascending), then stored or added to d.
function lowRankReduce(
  y: Float32Array, x: Float32Array, d: Float32Array, n: number, r: number, F: number, accumulate: boolean,
): void {
  for (let j = 0; j < r; j++) {
    for (let f = 0; f < F; f++) {
      let t = 0;
      for (let i = 0; i < n; i++) t = Math.fround(t + Math.fround(y[i * r + j] * x[i * F + f]));
      d[j * F + f] = accumulate ? d[j * F + f] + t : t;
    }
  }
}

export const referenceBackend: Backend = {
  name: 'reference',
  threads: 1,
  kernelPath: 'reference',
  bf16Kernel: 'reference',
  matmul,
  matmulPair,
  matmulBf16,
  embedding(weight, ids, out, C) {
    for (let n = 0; n < ids.length; n++) out.set(weight.subarray(ids[n] * C, (ids[n] + 1) * C), n * C);
  },
  embeddingBackward(dOut, ids, dWeight, C) {
    for (let n = 0; n < ids.length; n++) {
      const row = ids[n] * C;
      for (let c = 0; c < C; c++) dWeight[row + c] += dOut[n * C + c];
    }
  },
  rmsnorm,
  rmsnormBackward,
  rope,
  attention,
  attentionCached,
  attentionBackward,
  swiglu(gate, up, out, n) {
    for (let i = 0; i < n; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
  },
  swigluBackward(dOut, gate, up, dGate, dUp, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      const sg = sigmoid(g);
      dUp[i] = dOut[i] * g * sg;
      dGate[i] = dOut[i] * up[i] * sg * (1 + g * (1 - sg));
    }
  },
  crossEntropy,
  crossEntropyBackward,
  crossEntropyWithGrad,
  // torch.optim.AdamW's order of operations, so the float32 results track torch closely.
  adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2) {
    const stepSize = lr / bc1;
    const bc2Sqrt = Math.sqrt(bc2);
    const decay = 1 - lr * weightDecay;
    for (let i = 0; i < n; i++) {
      p[i] *= decay;
      m[i] = m[i] * beta1 + (1 - beta1) * g[i];
      v[i] = v[i] * beta2 + (1 - beta2) * g[i] * g[i];
      const denom = Math.fround(Math.sqrt(v[i]) / bc2Sqrt) + eps;
      p[i] -= (stepSize * m[i]) / denom;
    }
  },
  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  },
  scale(x, s, n) {
    for (let i = 0; i < n; i++) x[i] *= s;
  },
  add(a, b, out, n) {
    for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
  },
  mul(a, b, out, n) {
    for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
  },
  axpy(alpha, x, y, n) {
    for (let i = 0; i < n; i++) y[i] += alpha * x[i];
  },
  addRows(out, bias, N, C) {
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) out[n * C + c] += bias[c];
  },
  sumRows(x, out, N, C) {
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) out[c] += x[n * C + c];
  },
  transpose(src, dst, rows, cols, accumulate) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) dst[j * rows + i] = accumulate ? dst[j * rows + i] + src[i * cols + j] : src[i * cols + j];
    }
  },
  roundBf16,
  lowRankProject,
  lowRankExpand,
  lowRankReduce,
};
