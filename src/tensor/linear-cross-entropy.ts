// The LM head and the loss in one op: cross-entropy of h @ w^T without ever holding the (N, V) logits. Rows whose
// target is -100 (prompt tokens in SFT) are skipped outright; the rest are gathered into chunks whose logits live
// in one scratch buffer. When the tape records, each chunk's gradient (softmax - onehot) is pushed through the head
// right away, into dh (N, C) and dw (V, C) for a unit upstream gradient; backward only scales them by the real one.
// The loss is linear in its upstream gradient, so this is exact, and it spares backward a second logits GEMM.
// With a 150k vocab this is the difference between gigabytes of logits and one chunk buffer (64 MiB).
import { RetuneError } from '../util/errors.js';
import { getBackend } from '../backend/index.js';
import { output, record, willRecord } from './tape.js';
import { linearGrads } from './linear-grads.js';
import { acquire, acquireZeroed, release } from './pool.js';
import type { Tensor } from './tensor.js';

// Logits per chunk: 64 MiB of float32 (512 rows of a 32k vocab). The head's GEMMs are compute-bound (as fast with
// caches flushed as hot), so a chunk small enough to stay in cache gains nothing. Measured on the AVX-512 kernels,
// stories15M head, 2048 rows, 1 thread (CPU time of logits, loss and both gradients): 1024, 512 and 256 rows within
// 3 % of each other, 131 rows 6 % slower (w packed 16 times instead of 4, more partial kernel tiles).
const CHUNK_ELEMENTS = 1 << 24;
const ROW_BLOCK = 32;
// ...but at least this many rows while they take at most 4x that budget (a 150k vocab: up to 150 MiB of logits):
// each chunk packs the whole head weight for its rows alone. Qwen2.5-0.5B's head (151936 x 896), 246 loss rows, 2
// threads: one chunk ran 1.14-1.22x faster than 96 + 96 + 54 in float32 and 1.24-1.39x in bf16.
const MIN_CHUNK_ROWS = 256;

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
  if (chunkRows !== undefined) return { rows: Int32Array.from(rows), chunk: chunkRows };
  // As many chunks as the budget needs, as even as whole 32-row blocks (the bf16 kernels' row block) allow: 600 rows
  // of a 150k vocab go as 224 + 224 + 152. Of 110 + 110 + 26, 96 + 96 + 54 and 82 + 82 + 82 (the last padding each
  // chunk's last block with zeros), the even whole blocks were fastest: 336, 314 and 339 ms for the head's two GEMMs
  // (one process, interleaved, 1 thread, Xeon AMX).
  const most = Math.max(1, Math.floor(CHUNK_ELEMENTS / V), Math.min(MIN_CHUNK_ROWS, Math.floor((4 * CHUNK_ELEMENTS) / V)));
  const chunks = Math.max(1, Math.ceil(rows.length / most));
  const even = Math.max(1, Math.ceil(rows.length / chunks));
  return { rows: Int32Array.from(rows), chunk: Math.min(most, Math.ceil(even / ROW_BLOCK) * ROW_BLOCK) };
}

// Gathers rows [start, start + n) of the counted set from x (N, C) into out (n, C).
function gatherRows(x: Float32Array, rows: Int32Array, start: number, n: number, C: number, out: Float32Array): void {
  for (let r = 0; r < n; r++) out.set(x.subarray(rows[start + r] * C, (rows[start + r] + 1) * C), r * C);
}

// logits (n, V) = hRows (n, C) @ w^T, through the bf16 kernel for a frozen head or a trainable one's bf16 copy.
function chunkLogits(hRows: Float32Array, w: Tensor, n: number, logits: Float32Array): void {
  const [V, C] = w.shape;
  const args = { batch: 1, M: n, N: V, K: C, transA: false, transB: true, accumulate: false };
  const wBits = w.productBf16;
  if (wBits !== null) getBackend().matmulBf16(hRows, wBits, logits, args);
  else getBackend().matmul(hRows, w.data, logits, args);
}

// Scalar: sum over counted rows of -log softmax(h @ w^T)[target], divided by normalizer. h (..., C), w (V, C).
// chunkRows trades memory for kernel size; by default a chunk's logits take 64 MiB.
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
  const rec = willRecord([h, w]);
  // Gradients for a unit upstream gradient, saved for backward: dh rows of ignored targets stay zero.
  const dh = rec && h.requiresGrad ? acquireZeroed(N * C) : null; // (N, C)
  const dw = rec && w.requiresGrad ? acquire(V * C) : null; // (V, C)
  const sum = chunkedLoss(h.data, w, targets, plan, { rowGrad: 1 / normalizer, dh, dw });
  const out = output([], rec);
  out.data[0] = sum / normalizer;
  // Only the gradients that will be needed are saved, in input order.
  if (rec) record('linearCrossEntropy', [h, w], out, { buffers: [dh, dw].filter((buf) => buf !== null) });
  return out;
}

// What chunkedLoss computes besides the sum: per-row losses, and the gradients of sum(rowGrad[r] * loss[r]).
export interface ChunkedOutputs {
  rowGrad: number | Float32Array; // d(objective)/d(loss) of each counted row: one value for all, or one per row
  rowLosses?: Float32Array; // (rows) each counted row's loss, when given
  dh: Float32Array | null; // (N, C) rows of counted targets overwritten, the others left as they are
  dw: Float32Array | null; // (V, C)
  dwAccumulate?: boolean; // add into dw instead of overwriting it
}

// Sum of the counted rows' losses, chunk by chunk; with dh or dw, also the gradients of the weighted sum.
export function chunkedLoss(h: Float32Array, w: Tensor, targets: Int32Array, plan: LossRows, out: ChunkedOutputs): number {
  const { dh, dw, rowGrad, rowLosses } = out;
  const [V, C] = w.shape;
  const backend = getBackend();
  const grads = dh !== null || dw !== null;
  const hRows = acquire(plan.chunk * C); // (chunk, C)
  const logits = acquire(plan.chunk * V); // (chunk, V)
  const losses = acquire(plan.chunk);
  const lse = acquire(plan.chunk);
  const dRows = dh !== null ? acquire(plan.chunk * C) : null; // (chunk, C)
  const dLoss = acquire(plan.chunk);
  if (typeof rowGrad === 'number') dLoss.fill(rowGrad);
  const chunkTargets = new Int32Array(plan.chunk);
  let sum = 0;
  let dwAccumulate = out.dwAccumulate ?? false;
  for (let start = 0; start < plan.rows.length; start += plan.chunk) {
    const n = Math.min(plan.chunk, plan.rows.length - start);
    gatherRows(h, plan.rows, start, n, C, hRows);
    chunkLogits(hRows, w, n, logits);
    for (let r = 0; r < n; r++) chunkTargets[r] = targets[plan.rows[start + r]];
    const nTargets = chunkTargets.subarray(0, n);
    if (typeof rowGrad !== 'number') dLoss.set(rowGrad.subarray(start, start + n));
    // With gradients the logits become their own gradient in place: one chunk buffer, one pass over it.
    if (grads) backend.crossEntropyWithGrad(logits, nTargets, losses, lse, dLoss, n, V);
    else backend.crossEntropy(logits, nTargets, losses, lse, n, V);
    for (let r = 0; r < n; r++) sum += losses[r];
    if (rowLosses !== undefined) rowLosses.set(losses.subarray(0, n), start);
    if (!grads) continue;
    // dRows (n, C) = dLogits (n, V) @ w (V, C); dw (V, C) (+)= dLogits^T (V, n) @ hRows (n, C)
    const dLogits = logits;
    linearGrads(dLogits, w, hRows, n, dRows && { buf: dRows, accumulate: false }, dw && { buf: dw, accumulate: dwAccumulate });
    if (dh !== null && dRows !== null) {
      for (let r = 0; r < n; r++) dh.set(dRows.subarray(r * C, (r + 1) * C), plan.rows[start + r] * C);
    }
    dwAccumulate = dwAccumulate || dw !== null;
  }
  if (dw !== null && !dwAccumulate) dw.fill(0); // no counted row: the gradient is zero
  for (const buf of [hRows, logits, losses, lse, dLoss]) release(buf);
  if (dRows !== null) release(dRows);
  return sum;
}
