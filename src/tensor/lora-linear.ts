// A Linear and its LoRA branch in one op: y = x @ W^T + b + s * (xA @ A^T) @ B^T, written into ONE (N, out) buffer.
// Composed from linear/scale/add, an adapted layer would keep the base output, the branch output and their sum, and
// backward would hold a gradient for each; here the only extra activation is the (N, r) product s * xA @ A^T.
// xA is the input the A branch sees: x itself, or a dropped-out copy (PEFT applies LoRA dropout to that branch only).
// W may be a frozen bf16 weight (no dW); when it requires grad, dW = dOut^T @ x as in linear().
// The branch's products run on the backend's low-rank kernels (one pass over the (N, in) or (N, out) operand, nothing
// packed) up to rank LOW_RANK_MAX: through the general GEMM they took 17 % of a Qwen2.5-0.5B LoRA step.
import { RetuneError } from '../util/errors.js';
import { getBackend } from '../backend/index.js';
import { acquire, release } from './pool.js';
import { allocate, output, record, willRecord, type GradSink, type Node } from './tape.js';
import { bf16ToF32, Tensor } from './tensor.js';

export interface LoraLinearOptions {
  xA?: Tensor; // (..., in): the A branch's input; x when absent
  // x @ W^T + b already computed (nn's Linear runs the base layer before its adapter sees x). Its buffer is taken
  // over: the result is written into it, so the caller must not read `base` afterwards.
  base?: Tensor;
}

function shapeStr(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function check(x: Tensor, w: Tensor, bias: Tensor | null, A: Tensor, B: Tensor, opts: LoraLinearOptions): void {
  const [outF, inF] = w.shape;
  const r = A.shape[0];
  const fail = (why: string): never => {
    throw new RetuneError(`loraLinear: ${why} (x ${shapeStr(x)}, weight ${shapeStr(w)}, A ${shapeStr(A)}, B ${shapeStr(B)})`);
  };
  if (w.shape.length !== 2 || x.shape[x.shape.length - 1] !== inF) fail('x does not match weight (out, in)');
  if (A.shape.length !== 2 || A.shape[1] !== inF) fail('A must be (r, in)');
  if (B.shape.length !== 2 || B.shape[0] !== outF || B.shape[1] !== r) fail('B must be (out, r)');
  if (bias !== null && !sameShape(bias.shape, [outF])) fail(`bias ${shapeStr(bias)} must be (out)`);
  if (w.bf16 !== null && w.requiresGrad) fail('a bf16 weight cannot require grad');
  if (A.bf16 !== null || B.bf16 !== null) fail('A and B must be float32');
  if (opts.xA !== undefined && !sameShape(opts.xA.shape, x.shape)) fail(`xA ${shapeStr(opts.xA)} must match x`);
  if (opts.base !== undefined && !sameShape(opts.base.shape, [...x.shape.slice(0, -1), outF])) {
    fail(`base ${shapeStr(opts.base)} must be (..., out)`);
  }
  for (const [name, t] of [['x', x], ['xA', opts.xA], ['base', opts.base]] as const) {
    if (t !== undefined && t.released) fail(`${name} was released by an earlier backward()`);
  }
}

// Ranks up to this go through the backend's low-rank kernels (one pass over the activations, nothing packed); larger
// ones through the general GEMM, whose packing pays off once r is large.
const LOW_RANK_MAX = 16;

// out (N, out) = x @ W^T + b, through the bf16 kernel for a frozen weight.
function baseForward(x: Float32Array, w: Tensor, bias: Tensor | null, out: Float32Array, N: number): void {
  const [outF, inF] = w.shape;
  const args = { batch: 1, M: N, N: outF, K: inF, transA: false, transB: true, accumulate: false };
  if (w.bf16 !== null) getBackend().matmulBf16(x, w.bf16, out, args);
  else getBackend().matmul(x, w.data, out, args);
  if (bias !== null) getBackend().addRows(out, bias.bf16 !== null ? bf16ToF32(bias.bf16) : bias.data, N, outF);
}

// y (..., out) = x @ W^T + b + scale * (xA @ A^T) @ B^T.   x (..., in), W (out, in), A (r, in), B (out, r).
export function loraLinear(
  x: Tensor, w: Tensor, bias: Tensor | null, A: Tensor, B: Tensor, scale: number, opts: LoraLinearOptions = {},
): Tensor {
  check(x, w, bias, A, B, opts);
  const [outF, inF] = w.shape;
  const r = A.shape[0];
  const N = x.size / inF;
  const xA = opts.xA ?? x;
  // xA sits in a fixed slot even when it is x: the sink then adds the branch's dx into the same .grad.
  const inputs = bias === null ? [x, w, A, B, xA] : [x, w, A, B, xA, bias];
  const rec = willRecord(inputs);
  const backend = getBackend();
  let out: Tensor;
  if (opts.base === undefined) {
    out = output([...x.shape.slice(0, -1), outF], rec); // (N, out)
    baseForward(x.data, w, bias, out.data, N);
  } else {
    // A view on the base buffer: whoever owns that buffer (its tape node or the caller) gives it back.
    out = new Tensor(opts.base.data, opts.base.shape);
  }
  const xa = allocate(N * r, rec); // (N, r), scaled by s, saved for dB
  if (r <= LOW_RANK_MAX) {
    backend.lowRankProject(xA.data, A.data, xa, N, inF, r, scale);
    const Bt = acquire(r * outF); // (r, out)
    backend.transpose(B.data, Bt, outF, r, false);
    backend.lowRankExpand(xa, Bt, out.data, N, r, outF);
    release(Bt);
  } else {
    backend.matmul(xA.data, A.data, xa, { batch: 1, M: N, N: r, K: inF, transA: false, transB: true, accumulate: false });
    backend.scale(xa, scale, xa.length);
    backend.matmul(xa, B.data, out.data, { batch: 1, M: N, N: outF, K: r, transA: false, transB: true, accumulate: true });
  }
  // Unrecorded, xa is scratch: from a checkpoint arena that takes it back, or a plain array.
  if (rec) record('loraLinear', inputs, out, { buffers: [xa], scale });
  return out;
}

// The rule for backward.ts. gOut (N, out); with g = gOut and xa = s * xA @ A^T (saved):
//   dx = g @ W,  dW = g^T @ x,  db = colsum(g),  dB = g^T @ xa,  dA = s * (g @ B)^T @ xA,  dxA = s * (g @ B) @ A
export function loraLinearBackward(node: Node, gOut: Float32Array, sink: GradSink): void {
  const [x, w, A, B, xA] = node.inputs;
  const [outF, inF] = w.shape;
  const r = A.shape[0];
  const N = x.size / inF;
  const backend = getBackend();
  const dx = sink.accumulate(0);
  if (dx) {
    const args = { batch: 1, M: N, N: inF, K: outF, transA: false, transB: false, accumulate: dx.accumulate };
    if (w.bf16 !== null) backend.matmulBf16(gOut, w.bf16, dx.buf, args);
    else backend.matmul(gOut, w.data, dx.buf, args);
  }
  const dw = sink.accumulate(1);
  if (dw) backend.matmul(gOut, x.data, dw.buf, { batch: 1, M: outF, N: inF, K: N, transA: true, transB: false, accumulate: dw.accumulate });
  if (r <= LOW_RANK_MAX) return lowRankBranchBackward(node, gOut, sink);
  const dB = sink.accumulate(3);
  if (dB) backend.matmul(gOut, node.saved.buffers[0], dB.buf, { batch: 1, M: outF, N: r, K: N, transA: true, transB: false, accumulate: dB.accumulate });
  if (sink.needs(2) || sink.needs(4)) {
    const gB = sink.temp(N * r); // (N, r) = s * g @ B
    backend.matmul(gOut, B.data, gB, { batch: 1, M: N, N: r, K: outF, transA: false, transB: false, accumulate: false });
    backend.scale(gB, node.saved.scale!, gB.length);
    const dA = sink.accumulate(2);
    if (dA) backend.matmul(gB, xA.data, dA.buf, { batch: 1, M: r, N: inF, K: N, transA: true, transB: false, accumulate: dA.accumulate });
    const dxA = sink.accumulate(4);
    if (dxA) backend.matmul(gB, A.data, dxA.buf, { batch: 1, M: N, N: inF, K: r, transA: false, transB: false, accumulate: dxA.accumulate });
  }
  biasBackward(node, gOut, sink);
}

function biasBackward(node: Node, gOut: Float32Array, sink: GradSink): void {
  const outF = node.inputs[1].shape[0];
  if (node.inputs[5] === undefined || !sink.needs(5)) return;
  getBackend().sumRows(gOut, sink.zeroedOrExisting(5)!, gOut.length / outF, outF);
}

// The branch's gradients through the low-rank kernels, which take B^T (r, out) and give dB^T:
//   dB^T = xa^T @ g,  gB = s * g @ B,  dA = gB^T @ xA,  dxA += gB @ A.
function lowRankBranchBackward(node: Node, gOut: Float32Array, sink: GradSink): void {
  const [, w, A, B, xA] = node.inputs;
  const [outF, inF] = w.shape;
  const r = A.shape[0];
  const N = gOut.length / outF;
  const backend = getBackend();
  const dB = sink.accumulate(3);
  if (dB) {
    const dBt = sink.temp(r * outF); // (r, out)
    backend.lowRankReduce(node.saved.buffers[0], gOut, dBt, N, r, outF, false);
    backend.transpose(dBt, dB.buf, r, outF, dB.accumulate);
  }
  if (sink.needs(2) || sink.needs(4)) {
    const gB = sink.temp(N * r); // (N, r) = s * g @ B
    const Bt = sink.temp(r * outF); // (r, out)
    backend.transpose(B.data, Bt, outF, r, false);
    backend.lowRankProject(gOut, Bt, gB, N, outF, r, node.saved.scale!);
    const dA = sink.accumulate(2);
    if (dA) backend.lowRankReduce(gB, xA.data, dA.buf, N, r, inF, dA.accumulate);
    const dxA = sink.zeroedOrExisting(4);
    if (dxA) backend.lowRankExpand(gB, A.data, dxA, N, r, inF);
  }
  biasBackward(node, gOut, sink);
}
