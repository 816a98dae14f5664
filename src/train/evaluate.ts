// The eval loss: mean cross-entropy per target token over a tokenized split, with dropout off and no tape. The trainer
// evaluates with it during training (eval_strategy), and `do_eval` alone reports it on the eval split.
import { collate, type Batch, type TokenizedDataset } from '../data/index.js';
import type { Finetuning } from '../model/adapters/index.js';
import type { CausalLM } from '../model/index.js';
import { noGrad } from '../tensor/autograd.js';

const IGNORE = -100;

// Target tokens of a batch: labels after the first position that are not ignored (the loss shifts by one).
export function countTargets(batch: Batch): number {
  let n = 0;
  for (let b = 0; b < batch.B; b++) {
    for (let t = 1; t < batch.T; t++) if (batch.labels[b * batch.T + t] !== IGNORE) n++;
  }
  return n;
}

export interface EvalLoss {
  loss: number; // mean per target token
  batches: number;
}

export function meanEvalLoss(
  model: CausalLM, adapters: Finetuning['adapters'], data: TokenizedDataset, batchSize: number, padId: number,
): EvalLoss {
  adapters?.setTraining(false);
  let sum = 0;
  let count = 0;
  let batches = 0;
  noGrad(() => {
    for (let i = 0; i < data.size; i += batchSize) {
      const rows = [];
      for (let j = i; j < Math.min(data.size, i + batchSize); j++) rows.push(data.get(j));
      const b = collate(rows, { padId });
      sum += model.loss(b.ids, b.labels, b.B, b.T, {
        normalizer: 1, positions: b.positions ?? undefined, segments: b.segments ?? undefined,
      }).item();
      count += countTargets(b);
      batches++;
    }
  });
  adapters?.setTraining(true);
  return { loss: sum / Math.max(1, count), batches };
}
