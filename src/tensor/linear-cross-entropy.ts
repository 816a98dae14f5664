// The LM head and the loss in one op: cross-entropy of h @ w^T without ever holding the (N, V) logits. Rows whose
// target is -100 (prompt tokens in SFT) are skipped outright; the rest are gathered into chunks whose logits live
// in one scratch buffer, and backward recomputes each chunk's logits from the saved log-sum-exp. With a 150k vocab
// this is the difference between gigabytes of logits and a few tens of megabytes.
import { RetuneError } from '../config/errors.js';
import { getBackend } from '../backend/index.js';
import { allocate, output, record, willRecord } from './autograd.js';
import { acquire, release } from './pool.js';
import type { Tensor } from './tensor.js';

const CHUNK_ELEMENTS = 1 << 22; // logits per chunk: 16 MiB of float32

export interface LossRows {
  rows: Int32Array; // indices of the counted rows (target != -100)
  chunk: number; // rows per chunk
}

export function countedRows(targets: Int32Array, V: number, chunkRows?: number): LossRows {
  const rows: number[] = [];
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (t === -100) continue;
    if (t < 0 || t >= V) throw new RetuneError(`linearCrossEntropy: target ${t} at row ${i} is outside the vocabulary (0..${V - 1})`);
    rows.push(i);
  }
  return { rows: Int32Array.from(rows), chunk: chunkRows ?? Math.max(1, Math.floor(CHUNK_ELEMENTS / V)) };
}

// Gathers rows [start, start + n) of the counted set from x (N, C) into out (n, C).
export function gatherRows(x: Float32Array, rows: Int32Array, start: number, n: number, C: number, out: Float32Array): void {
  for (let r = 0; r < n; r++) out.set(x.subarray(rows[start + r] * C, (rows[start + r] + 1) * C), r * C);
}

// logits (n, V) = hRows (n, C) @ w^T, through the bf16 kernel for a frozen head.
export function chunkLogits(hRows: Float32Array, w: Tensor, n: number, logits: Float32Array): void {
  const [V, C] = w.shape;
  const args = { batch: 1, M: n, N: V, K: C, transA: false, transB: true, accumulate: false };
  if (w.bf16 !== null) getBackend().matmulBf16(hRows, w.bf16, logits, args);
  else getBackend().matmul(hRows, w.data, logits, args);
}

// Scalar: sum over counted rows of -log softmax(h @ w^T)[target], divided by normalizer. h (..., C), w (V, C).
// chunkRows trades memory for kernel size; by default a chunk's logits take 16 MiB.
export function linearCrossEntropy(
  h: Tensor, w: Tensor, targets: Int32Array, normalizer: number, opts: { chunkRows?: number } = {},
): Tensor {
  const [V, C] = w.shape;
  if (w.shape.length !== 2 || h.shape[h.shape.length - 1] !== C) {
    throw new RetuneError(`linearCrossEntropy: hidden [${h.shape.join(', ')}] does not match weight [${w.shape.join(', ')}] (V, C)`);
  }
  const N = h.size / C;
  if (targets.length !== N) throw new RetuneError(`linearCrossEntropy: ${targets.length} targets for ${N} rows`);
  if (!(normalizer > 0)) throw new RetuneError(`linearCrossEntropy: normalizer must be positive, got ${normalizer}`);
  if (h.released) throw new RetuneError('linearCrossEntropy: hidden states were released by an earlier backward()');
  if (w.bf16 !== null && w.requiresGrad) throw new RetuneError('linearCrossEntropy: a bf16 weight cannot require grad');
  if (opts.chunkRows !== undefined && !(Number.isInteger(opts.chunkRows) && opts.chunkRows > 0)) {
    throw new RetuneError(`linearCrossEntropy: chunkRows must be a positive integer, got ${opts.chunkRows}`);
  }
  const plan = countedRows(targets, V, opts.chunkRows);
  const counted = plan.rows.length;
  const rec = willRecord([h, w]);
  const lse = allocate(counted, rec); // (counted) saved for backward
  const backend = getBackend();
  const hRows = acquire(plan.chunk * C);
  const logits = acquire(plan.chunk * V);
  const losses = acquire(plan.chunk);
  let sum = 0;
  for (let start = 0; start < counted; start += plan.chunk) {
    const n = Math.min(plan.chunk, counted - start);
    gatherRows(h.data, plan.rows, start, n, C, hRows);
    chunkLogits(hRows, w, n, logits);
    const chunkTargets = new Int32Array(n);
    for (let r = 0; r < n; r++) chunkTargets[r] = targets[plan.rows[start + r]];
    backend.crossEntropy(logits, chunkTargets, losses, lse.subarray(start, start + n), n, V);
    for (let r = 0; r < n; r++) sum += losses[r];
  }
  release(hRows);
  release(logits);
  release(losses);
  const out = output([], rec);
  out.data[0] = sum / normalizer;
  if (rec) record('linearCrossEntropy', [h, w], out, { buffers: [lse], ids: targets.slice(), normalizer, chunkRows: plan.chunk });
  return out;
}
