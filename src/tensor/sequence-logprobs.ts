// The LM head and the per-sequence log-likelihood in one op, for preference training: row s of the output is
// sum_t log softmax(h[s, t] @ w^T)[target[s, t]] over the counted targets of sequence s (-100 skipped), without
// holding the (S*T, V) logits. Unlike the SFT loss, what comes after (a DPO or KTO loss) is not linear in these
// values, so the forward keeps only the sums and backward recomputes each chunk's logits to push the per-sequence
// upstream gradient through the head: one more head GEMM than linearCrossEntropy, no (N, C) saved gradient.
import { RetuneError } from '../util/errors.js';
import { output, record, willRecord, type GradSink, type Node } from './tape.js';
import { chunkedLoss, countedRows } from './linear-cross-entropy.js';
import type { Tensor } from './tensor.js';

// h (S, T, C), w (V, C), targets (S*T) -> (S): each sequence's summed target log-probabilities.
export function sequenceLogProbs(h: Tensor, w: Tensor, targets: Int32Array): Tensor {
  const [V, C] = w.shape;
  if (h.shape.length !== 3 || w.shape.length !== 2 || h.shape[2] !== C) {
    throw new RetuneError(`sequenceLogProbs: hidden [${h.shape.join(', ')}] does not match weight [${w.shape.join(', ')}] (V, C)`);
  }
  const [S, T] = h.shape;
  if (targets.length !== S * T) throw new RetuneError(`sequenceLogProbs: ${targets.length} targets for ${S * T} rows`);
  if (h.released) throw new RetuneError('sequenceLogProbs: hidden states were released by an earlier backward()');
  if (w.bf16 !== null && w.requiresGrad) throw new RetuneError('sequenceLogProbs: a bf16 weight cannot require grad');
  const plan = countedRows(targets, V);
  const rowLosses = new Float32Array(plan.rows.length);
  chunkedLoss(h.data, w, targets, plan, { rowGrad: 0, rowLosses, dh: null, dw: null });
  const rec = willRecord([h, w]);
  const out = output([S], rec);
  out.data.fill(0);
  for (let r = 0; r < plan.rows.length; r++) out.data[Math.floor(plan.rows[r] / T)] -= rowLosses[r];
  if (rec) record('sequenceLogProbs', [h, w], out, { buffers: [], ids: targets.slice() });
  return out;
}

// d logp[s] / d loss[row] = -1 for every counted row of s, so each row's weight is minus its sequence's gradient.
export function sequenceLogProbsBackward(node: Node, gOut: Float32Array, sink: GradSink): void {
  const [h, w] = node.inputs;
  const targets = node.saved.ids as Int32Array;
  const T = h.shape[1];
  const plan = countedRows(targets, w.shape[0]);
  const rowGrad = new Float32Array(plan.rows.length);
  for (let r = 0; r < plan.rows.length; r++) rowGrad[r] = -gOut[Math.floor(plan.rows[r] / T)];
  const dh = sink.needs(0) ? sink.overwrite(0).fill(0) : null;
  const dw = sink.accumulate(1);
  chunkedLoss(h.data, w, targets, plan, { rowGrad, dh, dw: dw?.buf ?? null, dwAccumulate: dw?.accumulate ?? false });
}
