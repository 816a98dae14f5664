// The eval loss: mean cross-entropy per target token over a tokenized split, with dropout off and no tape. The trainer
// evaluates with it during training (eval_strategy), and `do_eval` alone reports it on the eval split.
import type { TokenizedDataset, TokenizedRow } from '../data/index.js';
import type { Finetuning } from '../model/adapters/index.js';
import type { CausalLM } from '../model/index.js';
import { CausalLmObjective } from './stages/objective.js';

export interface EvalLoss {
  loss: number; // mean per target token
  batches: number;
}

// The split in batches of `batchSize` rows, in order.
export function evalBatches(data: TokenizedDataset, batchSize: number): TokenizedRow[][] {
  const batches: TokenizedRow[][] = [];
  for (let i = 0; i < data.size; i += batchSize) {
    const rows = [];
    for (let j = i; j < Math.min(data.size, i + batchSize); j++) rows.push(data.get(j));
    batches.push(rows);
  }
  return batches;
}

export function meanEvalLoss(
  model: CausalLM, adapters: Finetuning['adapters'], data: TokenizedDataset, batchSize: number, padId: number,
): EvalLoss {
  const batches = evalBatches(data, batchSize);
  adapters?.setTraining(false);
  const { loss } = new CausalLmObjective(model, padId).evaluate(batches);
  adapters?.setTraining(true);
  return { loss, batches: batches.length };
}
