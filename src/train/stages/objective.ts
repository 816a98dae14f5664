// What a training stage hands the trainer: the loss of each micro-batch of an optimizer step (the trainer runs
// backward between them), the stage's metrics, and its evaluation. pt and sft are the causal-LM loss; every stage
// keeps the one training loop in trainer.ts.
import { collate, type Batch, type TokenizedRow } from '../../data/index.js';
import type { CausalLM } from '../../model/index.js';
import { noGrad } from '../../tensor/autograd.js';
import type { Tensor } from '../../tensor/tensor.js';

const IGNORE = -100;

export interface MicroLoss {
  loss: Tensor; // scalar, scaled so that the micro-batches of one step add up to the step's loss
  tokens: number; // non-pad tokens that went through the model
  metrics: Record<string, number>; // this micro-batch's stage metrics (rewards/chosen, ...), averaged when logged
}

export interface Objective {
  // One MicroLoss per micro-batch, in order; the trainer calls backward on each before asking for the next.
  microLosses(micro: TokenizedRow[][]): Generator<MicroLoss>;
  // Metrics over a whole evaluation split, keys without the eval_ prefix (loss, perplexity, rewards/chosen, ...).
  evaluate(rows: TokenizedRow[][]): Record<string, number>;
}

// Targets the model's shifted loss sees: labels at positions 1..T-1 of each row that are not ignored.
export function countTargets(batch: Batch): number {
  let n = 0;
  for (let b = 0; b < batch.B; b++) {
    for (let t = 1; t < batch.T; t++) if (batch.labels[b * batch.T + t] !== IGNORE) n++;
  }
  return n;
}

// pt / sft: each micro-batch's summed token loss over the target tokens of the whole step (as HF does since 4.46).
export class CausalLmObjective implements Objective {
  constructor(private readonly model: CausalLM, private readonly padId: number) {}

  *microLosses(micro: TokenizedRow[][]): Generator<MicroLoss> {
    const batches = micro.map((rows) => collate(rows, { padId: this.padId }));
    const normalizer = Math.max(1, batches.reduce((n, b) => n + countTargets(b), 0));
    for (const b of batches) {
      const loss = this.model.loss(b.ids, b.labels, b.B, b.T, {
        normalizer, positions: b.positions ?? undefined, segments: b.segments ?? undefined,
      });
      yield { loss, tokens: b.tokens, metrics: {} };
    }
  }

  // Mean loss per target token over the split.
  evaluate(rows: TokenizedRow[][]): Record<string, number> {
    let sum = 0;
    let count = 0;
    noGrad(() => {
      for (const batchRows of rows) {
        const b = collate(batchRows, { padId: this.padId });
        sum += this.model.loss(b.ids, b.labels, b.B, b.T, {
          normalizer: 1, positions: b.positions ?? undefined, segments: b.segments ?? undefined,
        }).item();
        count += countTargets(b);
      }
    });
    const loss = sum / Math.max(1, count);
    return { loss, perplexity: Math.exp(loss) };
  }
}
