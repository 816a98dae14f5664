// stage: dpo. Each micro-batch puts its chosen and rejected sequences through the model as one batch (the P chosen
// rows, then the P rejected ones, as TRL and LLaMA-Factory's pairwise collator concatenate them), takes the summed
// log-probs of their answers, and hands them with the reference's to the pref_loss of pref-loss.ts. The micro-batch
// loss is the mean over its pairs divided by the micro-batches of the step (HF's accumulation for losses that do not
// take num_items_in_batch, as LLaMA-Factory's DPO trainer).
import { RetuneError } from '../../util/errors.js';
import { collate, type Batch, type TokenizedRow } from '../../data/index.js';
import type { CausalLM } from '../../model/index.js';
import { noGrad } from '../../tensor/autograd.js';
import type { Tensor } from '../../tensor/tensor.js';
import { evaluateBatches, meanMetrics, shareOfStep, type MicroLoss, type Objective } from './objective.js';
import { preferenceLoss, usesReference, type PrefParams, type PrefResult } from './pref-loss.js';
import type { Reference } from './reference.js';

const IGNORE = -100;

// (2P, T): rows 0..P-1 prompt + chosen, rows P..2P-1 prompt + rejected.
export function collatePairs(rows: TokenizedRow[], padId: number): Batch {
  const rejected = rows.map((r, i) => {
    if (r.rejectedIds === undefined || r.rejectedLabels === undefined) {
      throw new RetuneError(`preference batch: row ${i} has no rejected answer (was the dataset prepared for stage dpo?)`);
    }
    return { inputIds: r.rejectedIds, labels: r.rejectedLabels };
  });
  return collate([...rows.map((r) => ({ inputIds: r.inputIds, labels: r.labels })), ...rejected], { padId });
}

// (B) target tokens of each row after the shift.
export function rowTargets(b: Batch): Int32Array {
  const out = new Int32Array(b.B);
  for (let r = 0; r < b.B; r++) {
    for (let t = 1; t < b.T; t++) if (b.labels[r * b.T + t] !== IGNORE) out[r]++;
  }
  return out;
}

export class PreferenceObjective implements Objective {
  constructor(
    private readonly model: CausalLM,
    private readonly reference: Reference | null,
    private readonly params: PrefParams,
    private readonly padId: number,
  ) {
    if (usesReference(params.loss) && reference === null) throw new RetuneError(`pref_loss ${params.loss} needs a reference model`);
  }

  *microLosses(micro: TokenizedRow[][]): Generator<MicroLoss> {
    for (const rows of micro) {
      const { b, policy, result } = this.run(rows);
      yield { loss: shareOfStep(policy, result.loss, result.grad, micro.length), tokens: b.tokens, metrics: result.metrics };
    }
  }

  summarize(sums: Record<string, number>, microBatches: number): Record<string, number> {
    return meanMetrics(sums, microBatches);
  }

  // LLaMA-Factory's evaluation: the loss averaged over pairs, the metrics over batches.
  evaluate(rows: TokenizedRow[][]): Record<string, number> {
    return evaluateBatches(rows, (batchRows) => noGrad(() => this.run(batchRows).result), meanMetrics);
  }

  private run(rows: TokenizedRow[]): { b: Batch; policy: Tensor; result: PrefResult } {
    const b = collatePairs(rows, this.padId);
    const reference = usesReference(this.params.loss) ? (this.reference as Reference).logProbs(b) : null;
    const policy = this.model.sequenceLogProbs(b.ids, b.labels, b.B, b.T); // (2P)
    const result = preferenceLoss(this.params, { policy: policy.data, reference, lengths: rowTargets(b) });
    return { b, policy, result };
  }
}
