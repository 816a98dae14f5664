// stage: kto. Each row is one answer tagged desirable or not (kto_tag), with the data layer's mismatched pair (its
// prompt and another row's answer) for the KL estimate. The policy's answer log-probs go through the tape; its
// mismatched log-probs and everything of the reference are computed without it (the reference in one batch of
// answers and mismatched pairs). The micro-batch loss is divided by the micro-batches of the step, as in dpo.ts.
import { RetuneError } from '../../util/errors.js';
import { collate, type Batch, type TokenizedRow } from '../../data/index.js';
import type { CausalLM } from '../../model/index.js';
import { noGrad } from '../../tensor/autograd.js';
import type { Tensor } from '../../tensor/tensor.js';
import { rowTargets } from './dpo.js';
import { ktoLoss, ktoMetrics, type KtoParams, type KtoResult } from './kto-loss.js';
import { evaluateBatches, shareOfStep, type MicroLoss, type Objective } from './objective.js';
import type { Reference } from './reference.js';

interface KtoBatch {
  target: Batch; // (B, T) prompt + answer
  mismatched: Batch; // (B, T') prompt + another row's answer
  both: Batch; // (2B, T'') the B answers, then the B mismatched pairs, for the reference
  desirable: boolean[];
}

function collateKto(rows: TokenizedRow[], padId: number): KtoBatch {
  const mismatched = rows.map((r, i) => {
    if (r.klIds === undefined || r.klLabels === undefined || r.ktoTag === undefined) {
      throw new RetuneError(`kto batch: row ${i} has no kto_tag or mismatched pair (was the dataset prepared for stage kto?)`);
    }
    return { inputIds: r.klIds, labels: r.klLabels };
  });
  const answers = rows.map((r) => ({ inputIds: r.inputIds, labels: r.labels }));
  return {
    target: collate(answers, { padId }),
    mismatched: collate(mismatched, { padId }),
    both: collate([...answers, ...mismatched], { padId }),
    desirable: rows.map((r) => r.ktoTag as boolean),
  };
}

// A (2B) batch's values: the answers', then the mismatched pairs'.
function halves(values: Float32Array): [Float32Array, Float32Array] {
  const B = values.length / 2;
  return [values.subarray(0, B), values.subarray(B)];
}

export class KtoObjective implements Objective {
  constructor(
    private readonly model: CausalLM,
    private readonly reference: Reference,
    private readonly params: KtoParams,
    private readonly padId: number,
  ) {}

  *microLosses(micro: TokenizedRow[][]): Generator<MicroLoss> {
    for (const rows of micro) {
      const { b, policy, result } = this.run(rows);
      yield { loss: shareOfStep(policy, result.loss, result.grad, micro.length), tokens: b.both.tokens, metrics: result.metrics };
    }
  }

  summarize(sums: Record<string, number>, microBatches: number): Record<string, number> {
    return ktoMetrics(sums, microBatches);
  }

  evaluate(rows: TokenizedRow[][]): Record<string, number> {
    return evaluateBatches(rows, (batchRows) => noGrad(() => this.run(batchRows).result), ktoMetrics);
  }

  private run(rows: TokenizedRow[]): { b: KtoBatch; policy: Tensor; result: KtoResult } {
    const b = collateKto(rows, this.padId);
    const [reference, klReference] = halves(this.reference.logProbs(b.both));
    const m = b.mismatched;
    const klPolicy = noGrad(() => this.model.sequenceLogProbs(m.ids, m.labels, m.B, m.T).data.slice());
    const policy = this.model.sequenceLogProbs(b.target.ids, b.target.labels, b.target.B, b.target.T); // (B)
    const result = ktoLoss(this.params, {
      policy: policy.data, reference, klPolicy, klReference, desirable: b.desirable, lengths: rowTargets(b.target),
    });
    return { b, policy, result };
  }
}
