// Differentiable ops. Each computes its forward through the backend and, when it records, keeps what its backward
// rule (backward.ts) needs. Shapes are checked up front so bad input names the op and the shapes involved.
import { RetuneError } from '../util/errors.js';
import { getBackend } from '../backend/index.js';
import { allocate, output, record, willRecord, type Saved } from './tape.js';
import type { RopeTable } from './rope.js';
import { bf16ToF32, Tensor } from './tensor.js';

function shapeStr(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

function live(op: string, name: string, t: Tensor): Float32Array {
  if (t.bf16 !== null) throw new RetuneError(`${op}: ${name} is a bf16 frozen weight; only linear() and embedding() read bf16`);
  if (t.dropped) throw new RetuneError(`${op}: ${name} was dropped until backward (dropUntilBackward); read it before dropping it`);
  if (t.released) throw new RetuneError(`${op}: ${name} was released by an earlier backward()`);
  return t.data;
}

// Small weights (norm scales, biases) may be frozen as bf16 too; widening them per call is cheap.
function widened(op: string, name: string, t: Tensor): Float32Array {
  return t.bf16 !== null ? bf16ToF32(t.bf16) : live(op, name, t);
}

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RetuneError(`${op}: shapes differ: ${shapeStr(a)} vs ${shapeStr(b)}`);
  }
}

function saved(extra: Omit<Saved, 'buffers'> = {}, buffers: Float32Array[] = []): Saved {
  return { buffers, ...extra };
}

// x (..., in) @ w^T (in, out) + bias -> (..., out); w (out, in) in HF layout, possibly bf16 (frozen, no grad).
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor {
  const inF = w.shape[1];
  const outF = w.shape[0];
  if (w.shape.length !== 2 || x.shape[x.shape.length - 1] !== inF) {
    throw new RetuneError(`linear: x ${shapeStr(x)} does not match weight ${shapeStr(w)} (out, in)`);
  }
  if (w.bf16 !== null && w.requiresGrad) throw new RetuneError('linear: a bf16 weight cannot require grad; train it as float32');
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF)) {
    throw new RetuneError(`linear: bias ${shapeStr(bias)} does not match weight ${shapeStr(w)}`);
  }
  const N = x.size / inF;
  const xd = live('linear', 'x', x);
  const wBits = w.productBf16;
  const wd = wBits === null ? live('linear', 'weight', w) : null;
  const bd = bias ? widened('linear', 'bias', bias) : null;
  const inputs = bias ? [x, w, bias] : [x, w];
  const rec = willRecord(inputs);
  const out = output([...x.shape.slice(0, -1), outF], rec); // (N, out)
  const backend = getBackend();
  const args = { batch: 1, M: N, N: outF, K: inF, transA: false, transB: true, accumulate: false };
  if (wd === null) backend.matmulBf16(xd, wBits as Uint16Array, out.data, args);
  else backend.matmul(xd, wd, out.data, args);
  if (bd) backend.addRows(out.data, bd, N, outF);
  if (rec) record('linear', inputs, out, saved());
  return out;
}

// (M, K) @ (K, N) -> (M, N), or batched (batch, M, K) @ (batch, K, N); transA / transB mean the operand is stored
// transposed in its last two dims.
export function matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const rank = a.shape.length;
  if ((rank !== 2 && rank !== 3) || b.shape.length !== rank || (rank === 3 && a.shape[0] !== b.shape[0])) {
    throw new RetuneError(`matmul: operands ${shapeStr(a)} and ${shapeStr(b)} must both be 2-D or 3-D with equal batch`);
  }
  const batch = rank === 3 ? a.shape[0] : 1;
  const [a0, a1] = a.shape.slice(-2);
  const [b0, b1] = b.shape.slice(-2);
  const [M, K] = transA ? [a1, a0] : [a0, a1];
  const [K2, N] = transB ? [b1, b0] : [b0, b1];
  if (K !== K2) throw new RetuneError(`matmul: inner dims differ: ${shapeStr(a)}${transA ? 'ᵀ' : ''} @ ${shapeStr(b)}${transB ? 'ᵀ' : ''}`);
  const [ad, bd] = [live('matmul', 'a', a), live('matmul', 'b', b)];
  const rec = willRecord([a, b]);
  const out = output(rank === 3 ? [batch, M, N] : [M, N], rec);
  getBackend().matmul(ad, bd, out.data, { batch, M, N, K, transA, transB, accumulate: false });
  if (rec) record('matmul', [a, b], out, saved({ transA, transB }));
  return out;
}

// weight (V, C) gathered by ids -> (...shape, C)
export function embedding(weight: Tensor, ids: Int32Array, shape: number[]): Tensor {
  const [V, C] = weight.shape;
  if (weight.shape.length !== 2) throw new RetuneError(`embedding: weight ${shapeStr(weight)} must be (V, C)`);
  if (ids.length !== shape.reduce((p, d) => p * d, 1)) {
    throw new RetuneError(`embedding: ${ids.length} ids do not fill shape [${shape.join(', ')}]`);
  }
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= V) throw new RetuneError(`embedding: token id ${ids[i]} at position ${i} is outside the vocabulary (0..${V - 1})`);
  }
  if (weight.bf16 !== null && weight.requiresGrad) throw new RetuneError('embedding: a bf16 weight cannot require grad');
  const rec = willRecord([weight]);
  const out = output([...shape, C], rec); // (N, C)
  if (weight.bf16 !== null) {
    const bits = new Uint32Array(out.data.buffer, out.data.byteOffset, out.data.length);
    for (let n = 0; n < ids.length; n++) {
      const row = ids[n] * C;
      for (let c = 0; c < C; c++) bits[n * C + c] = weight.bf16[row + c] << 16;
    }
  } else {
    getBackend().embedding(weight.data, ids, out.data, C);
  }
  if (rec) record('embedding', [weight], out, saved({ ids: ids.slice() }));
  return out;
}

// x (..., C) / rms(x) * w (C)
export function rmsnorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const C = x.shape[x.shape.length - 1];
  if (w.shape.length !== 1 || w.shape[0] !== C) throw new RetuneError(`rmsnorm: weight ${shapeStr(w)} does not match x ${shapeStr(x)}`);
  const N = x.size / C;
  const [xd, wd] = [live('rmsnorm', 'x', x), widened('rmsnorm', 'weight', w)];
  const rec = willRecord([x, w]);
  const out = output(x.shape, rec);
  const rstd = allocate(N, rec);
  getBackend().rmsnorm(xd, wd, out.data, rstd, N, C, eps);
  if (rec) record('rmsnorm', [x, w], out, saved({ eps }, [rstd]));
  return out;
}

// HF rotate_half RoPE; x (B, T, nHead, hd), positions (B*T)
export function rope(x: Tensor, positions: Int32Array, table: RopeTable): Tensor {
  if (x.shape.length !== 4 || x.shape[3] !== table.hd) throw new RetuneError(`rope: x ${shapeStr(x)} must be (B, T, nHead, ${table.hd})`);
  const [B, T, nHead, hd] = x.shape;
  if (positions.length !== B * T) throw new RetuneError(`rope: ${positions.length} positions for B*T = ${B * T} tokens`);
  let maxPos = 0;
  for (let i = 0; i < positions.length; i++) {
    if (positions[i] < 0) throw new RetuneError(`rope: negative position ${positions[i]} at token ${i}`);
    maxPos = Math.max(maxPos, positions[i]);
  }
  table.ensure(maxPos + 1);
  const xd = live('rope', 'x', x);
  const rec = willRecord([x]);
  const out = output(x.shape, rec);
  getBackend().rope(xd, out.data, positions, table.cos, table.sin, B * T, nHead, hd, false);
  if (rec) record('rope', [x], out, saved({ positions: positions.slice(), table }));
  return out;
}

// Causal attention with GQA; q (B, T, nHead, hd), k, v (B, T, nKV, hd) -> (B, T, nHead, hd). window: query i sees
// key j only when i - j < window (sliding-window attention); absent or null: plain causal.
export function attention(
  q: Tensor, k: Tensor, v: Tensor, opts: { scale: number; segments: Int32Array | null; window?: number | null },
): Tensor {
  if (q.shape.length !== 4 || k.shape.length !== 4) throw new RetuneError(`attention: q ${shapeStr(q)} and k ${shapeStr(k)} must be (B, T, heads, hd)`);
  const [B, T, nHead, hd] = q.shape;
  const nKV = k.shape[2];
  sameShape('attention', k, v);
  if (k.shape[0] !== B || k.shape[1] !== T || k.shape[3] !== hd || nHead % nKV !== 0) {
    throw new RetuneError(`attention: k ${shapeStr(k)} does not fit q ${shapeStr(q)} (nHead must be a multiple of nKV)`);
  }
  if (opts.segments !== null && opts.segments.length !== B * T) {
    throw new RetuneError(`attention: ${opts.segments.length} segment ids for B*T = ${B * T} tokens`);
  }
  const window = opts.window ?? null;
  if (window !== null && !(Number.isInteger(window) && window >= 1)) {
    throw new RetuneError(`attention: window ${window} must be a whole number >= 1 or null`);
  }
  const args = { B, T, nHead, nKV, hd, scale: opts.scale, segments: opts.segments, window };
  const [qd, kd, vd] = [live('attention', 'q', q), live('attention', 'k', k), live('attention', 'v', v)];
  const rec = willRecord([q, k, v]);
  const out = output(q.shape, rec);
  const lse = allocate(B * nHead * T, rec); // (B, nHead, T)
  getBackend().attention(qd, kd, vd, out.data, lse, args);
  if (rec) {
    const segments = opts.segments === null ? null : opts.segments.slice();
    record('attention', [q, k, v], out, saved({ scale: opts.scale, segments, window }, [lse]));
  }
  return out;
}

// silu(gate) * up
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  sameShape('swiglu', gate, up);
  const [gd, ud] = [live('swiglu', 'gate', gate), live('swiglu', 'up', up)];
  const rec = willRecord([gate, up]);
  const out = output(gate.shape, rec);
  getBackend().swiglu(gd, ud, out.data, gate.size);
  if (rec) record('swiglu', [gate, up], out, saved());
  return out;
}

// Scalar sum over rows of -log softmax(logits)[target] / normalizer; targets of -100 are ignored.
export function crossEntropy(logits: Tensor, targets: Int32Array, normalizer: number): Tensor {
  if (logits.shape.length !== 2) throw new RetuneError(`crossEntropy: logits ${shapeStr(logits)} must be (N, V)`);
  const [N, V] = logits.shape;
  if (targets.length !== N) throw new RetuneError(`crossEntropy: ${targets.length} targets for ${N} rows`);
  for (let i = 0; i < N; i++) {
    const t = targets[i];
    if (t !== -100 && (t < 0 || t >= V)) throw new RetuneError(`crossEntropy: target ${t} at row ${i} is outside the vocabulary (0..${V - 1})`);
  }
  if (!(normalizer > 0)) throw new RetuneError(`crossEntropy: normalizer must be positive, got ${normalizer}`);
  const xd = live('crossEntropy', 'logits', logits);
  const rec = willRecord([logits]);
  const losses = allocate(N, rec);
  const lse = allocate(N, rec);
  getBackend().crossEntropy(xd, targets, losses, lse, N, V);
  let sum = 0;
  for (let i = 0; i < N; i++) sum += losses[i];
  const out = output([], rec);
  out.data[0] = sum / normalizer;
  if (rec) record('crossEntropy', [logits], out, saved({ ids: targets.slice(), normalizer }, [losses, lse]));
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  sameShape('add', a, b);
  const [ad, bd] = [live('add', 'a', a), live('add', 'b', b)];
  const rec = willRecord([a, b]);
  const out = output(a.shape, rec);
  getBackend().add(ad, bd, out.data, a.size);
  if (rec) record('add', [a, b], out, saved());
  return out;
}

export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape('mul', a, b);
  const [ad, bd] = [live('mul', 'a', a), live('mul', 'b', b)];
  const rec = willRecord([a, b]);
  const out = output(a.shape, rec);
  getBackend().mul(ad, bd, out.data, a.size);
  if (rec) record('mul', [a, b], out, saved());
  return out;
}

export function scale(a: Tensor, s: number): Tensor {
  const ad = live('scale', 'a', a);
  const rec = willRecord([a]);
  const out = output(a.shape, rec);
  out.data.set(ad);
  getBackend().scale(out.data, s, a.size);
  if (rec) record('scale', [a], out, saved({ scale: s }));
  return out;
}

// A view with a new shape over the same data.
export function reshape(a: Tensor, shape: number[]): Tensor {
  const out = new Tensor(live('reshape', 'a', a), shape);
  if (willRecord([a])) record('reshape', [a], out, saved());
  return out;
}

// A scalar computed outside the tape from x (a small loss over per-sequence values, written in plain arithmetic like
// DPO's), with d value / d x supplied by the caller; backward hands x the upstream gradient times it.
export function scalarWithGrad(x: Tensor, value: number, grad: Float32Array): Tensor {
  if (grad.length !== x.size) throw new RetuneError(`scalarWithGrad: ${grad.length} gradient values for x ${shapeStr(x)}`);
  const rec = willRecord([x]);
  const out = output([], rec);
  out.data[0] = value;
  if (rec) {
    const keep = allocate(grad.length, true);
    keep.set(grad);
    record('scalarWithGrad', [x], out, saved({}, [keep]));
  }
  return out;
}

// out (R, C): rows of x (N, C) picked by index, e.g. each sequence's last token.
export function gatherRows(x: Tensor, rows: Int32Array): Tensor {
  if (x.shape.length !== 2) throw new RetuneError(`gatherRows: x ${shapeStr(x)} must be (N, C)`);
  const [N, C] = x.shape;
  for (const r of rows) if (r < 0 || r >= N) throw new RetuneError(`gatherRows: row ${r} is outside 0..${N - 1}`);
  const xd = live('gatherRows', 'x', x);
  const rec = willRecord([x]);
  const out = output([rows.length, C], rec);
  rows.forEach((r, i) => out.data.set(xd.subarray(r * C, (r + 1) * C), i * C));
  if (rec) record('gatherRows', [x], out, saved({ ids: rows.slice() }));
  return out;
}
