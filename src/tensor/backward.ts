// The one backward table: op name -> rule that turns the output gradient into input gradients through the sink.
// Typed over every op the tape knows (tape.ts), so an op without a rule does not compile; the checkpoint op's rule
// recomputes on the tape, so it lives with the code that runs the tape (autograd.ts). Shapes follow ops.ts.
import { getBackend } from '../backend/index.js';
import { bf16ToF32 } from './tensor.js';
import type { GradSink, Node, OpName } from './tape.js';
import { linearGrads } from './linear-grads.js';
import { loraLinearBackward } from './lora-linear.js';
import { sequenceLogProbsBackward } from './sequence-logprobs.js';

export type Rule = (node: Node, gOut: Float32Array, sink: GradSink) => void;

// Ops whose output may be dropped after the forward and made again in backward (autograd.ts, dropUntilBackward):
// cheap to recompute from inputs their own rule keeps anyway, and their rule does not read the output. Each writes
// the output exactly as the forward did, so a dropped tensor comes back with the same bits.
export const rerunTable: Partial<Record<OpName, (node: Node, out: Float32Array) => void>> = {
  swiglu(node, out) {
    const [gate, up] = node.inputs;
    getBackend().swiglu(gate.data, up.data, out, gate.size);
  },
  rope(node, out) {
    const [x] = node.inputs;
    const [B, T, nHead, hd] = x.shape;
    const table = node.saved.table!;
    getBackend().rope(x.data, out, node.saved.positions!, table.cos, table.sin, B * T, nHead, hd, false);
  },
  // rstd is written again, with the bits the forward saved.
  rmsnorm(node, out) {
    const [x, w] = node.inputs;
    const C = w.shape[0];
    const wd = w.bf16 !== null ? bf16ToF32(w.bf16) : w.data;
    getBackend().rmsnorm(x.data, wd, out, node.saved.buffers[0], x.size / C, C, node.saved.eps!);
  },
};

export const backwardTable: Record<Exclude<OpName, 'checkpoint'>, Rule> = {
  // y (N, out) = x (N, in) @ w^T + b
  linear(node, gOut, sink) {
    const [x, w, bias] = node.inputs;
    const [outF, inF] = w.shape;
    const N = x.size / inF;
    linearGrads(gOut, w, x.data, N, sink.needs(0) ? sink.accumulate(0)! : null, sink.accumulate(1));
    if (bias !== undefined && sink.needs(2)) getBackend().sumRows(gOut, sink.zeroedOrExisting(2)!, N, outF);
  },

  // C = op(A) @ op(B); see ops.matmul for the layouts.
  matmul(node, gOut, sink) {
    const [a, b] = node.inputs;
    const transA = node.saved.transA ?? false;
    const transB = node.saved.transB ?? false;
    const [M, N] = node.output.shape.slice(-2);
    const batch = a.shape.length === 3 ? a.shape[0] : 1;
    const K = transA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    const backend = getBackend();
    const da = sink.accumulate(0);
    if (da) {
      // dA = dC @ op(B)^T, or stored transposed: op(B) @ dC^T
      if (!transA) backend.matmul(gOut, b.data, da.buf, { batch, M, N: K, K: N, transA: false, transB: !transB, accumulate: da.accumulate });
      else backend.matmul(b.data, gOut, da.buf, { batch, M: K, N: M, K: N, transA: transB, transB: true, accumulate: da.accumulate });
    }
    const db = sink.accumulate(1);
    if (db) {
      // dB = op(A)^T @ dC, or stored transposed: dC^T @ op(A)
      if (!transB) backend.matmul(a.data, gOut, db.buf, { batch, M: K, N, K: M, transA: !transA, transB: false, accumulate: db.accumulate });
      else backend.matmul(gOut, a.data, db.buf, { batch, M: N, N: K, K: M, transA: true, transB: transA, accumulate: db.accumulate });
    }
  },

  embedding(node, gOut, sink) {
    const [weight] = node.inputs;
    const dw = sink.zeroedOrExisting(0);
    if (dw) getBackend().embeddingBackward(gOut, node.saved.ids!, dw, weight.shape[1]);
  },

  rmsnorm(node, gOut, sink) {
    const [x, w] = node.inputs;
    const C = w.shape[0];
    const N = x.size / C;
    const dx = sink.overwrite(0);
    const dw = sink.zeroedOrExisting(1) ?? sink.temp(C);
    const wd = w.bf16 !== null ? bf16ToF32(w.bf16) : w.data;
    getBackend().rmsnormBackward(gOut, x.data, wd, node.saved.buffers[0], dx, dw, N, C);
  },

  // The rotation is orthogonal, so its backward is the rotation by minus the angle.
  rope(node, gOut, sink) {
    const [x] = node.inputs;
    const [B, T, nHead, hd] = x.shape;
    const table = node.saved.table!;
    getBackend().rope(gOut, sink.overwrite(0), node.saved.positions!, table.cos, table.sin, B * T, nHead, hd, true);
  },

  attention(node, gOut, sink) {
    const [q, k, v] = node.inputs;
    const [B, T, nHead, hd] = q.shape;
    const args = {
      B, T, nHead, nKV: k.shape[2], hd, scale: node.saved.scale!, segments: node.saved.segments ?? null,
      window: node.saved.window ?? null,
    };
    const dq = sink.overwrite(0);
    const dk = sink.overwrite(1);
    const dv = sink.overwrite(2);
    getBackend().attentionBackward(gOut, q.data, k.data, v.data, node.output.data, node.saved.buffers[0], dq, dk, dv, args);
  },

  swiglu(node, gOut, sink) {
    const [gate, up] = node.inputs;
    getBackend().swigluBackward(gOut, gate.data, up.data, sink.overwrite(0), sink.overwrite(1), gate.size);
  },

  crossEntropy(node, gOut, sink) {
    const [logits] = node.inputs;
    const [N, V] = logits.shape;
    const dLoss = sink.temp(N);
    dLoss.fill(gOut[0] / node.saved.normalizer!);
    const [, lse] = node.saved.buffers;
    getBackend().crossEntropyBackward(logits.data, node.saved.ids!, lse, dLoss, sink.overwrite(0), N, V);
  },

  // The forward already holds dh and dw for a unit upstream gradient; the loss is linear in it, so scale.
  linearCrossEntropy(node, gOut, sink) {
    const backend = getBackend();
    const units = node.saved.buffers.values(); // one per input that required grad, in input order
    for (let i = 0; i < 2; i++) {
      const grad = sink.accumulate(i);
      if (grad === null) continue;
      const unit = units.next().value as Float32Array;
      if (grad.accumulate) {
        backend.axpy(gOut[0], unit, grad.buf, unit.length);
      } else {
        grad.buf.set(unit);
        backend.scale(grad.buf, gOut[0], unit.length);
      }
    }
  },

  loraLinear: loraLinearBackward, // the fused LoRA layer's rule lives with its forward
  sequenceLogProbs: sequenceLogProbsBackward, // so does the per-sequence log-likelihood's

  // dx is zero except the picked rows, which get their output gradient (added up when a row was picked twice).
  gatherRows(node, gOut, sink) {
    const dx = sink.overwrite(0);
    const C = node.inputs[0].shape[1];
    dx.fill(0);
    node.saved.ids!.forEach((r, i) => {
      for (let c = 0; c < C; c++) dx[r * C + c] += gOut[i * C + c];
    });
  },

  scalarWithGrad(node, gOut, sink) {
    const dx = sink.overwrite(0);
    dx.set(node.saved.buffers[0]);
    getBackend().scale(dx, gOut[0], dx.length);
  },

  add(node, gOut, sink) {
    for (let i = 0; i < 2; i++) if (sink.needs(i)) sink.overwrite(i).set(gOut);
  },

  mul(node, gOut, sink) {
    const [a, b] = node.inputs;
    const backend = getBackend();
    if (sink.needs(0)) backend.mul(gOut, b.data, sink.overwrite(0), a.size);
    if (sink.needs(1)) backend.mul(gOut, a.data, sink.overwrite(1), b.size);
  },

  scale(node, gOut, sink) {
    const dx = sink.overwrite(0);
    dx.set(gOut);
    getBackend().scale(dx, node.saved.scale!, dx.length);
  },

  reshape(_node, gOut, sink) {
    sink.overwrite(0).set(gOut);
  },
};
