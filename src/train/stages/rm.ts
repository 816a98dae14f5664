// stage: rm. LLaMA-Factory's PairwiseTrainer: chosen and rejected rows in one forward, the value head's score of each
// row's last token (attention_mask.sum - 1 under right padding), loss -log sigmoid(chosen - rejected) averaged over
// the pairs and divided by the micro-batches of the step; eval adds accuracy, the share of pairs scored the right
// way round. TRL's ValueHead also drops 10% of the hidden state before the head while training; Retune's head reads
// it whole, as in evaluation.
import type { TokenizedRow } from '../../data/index.js';
import type { CausalLM } from '../../model/index.js';
import { noGrad } from '../../tensor/autograd.js';
import { gatherRows, reshape } from '../../tensor/ops.js';
import type { Tensor } from '../../tensor/tensor.js';
import { collatePairs } from './dpo.js';
import { evaluateBatches, shareOfStep, type MicroLoss, type Objective } from './objective.js';
import type { ValueHead } from './value-head.js';

interface PairwiseResult {
  scores: Tensor; // (2P, 1)
  loss: number;
  grad: Float32Array; // (2P) d loss / d score
  correct: number; // pairs whose chosen answer scored higher
}

function logSigmoid(x: number): number {
  return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
}

export class RewardObjective implements Objective {
  constructor(private readonly model: CausalLM, private readonly head: ValueHead, private readonly padId: number) {}

  *microLosses(micro: TokenizedRow[][]): Generator<MicroLoss> {
    for (const rows of micro) {
      const r = this.run(rows);
      const tokens = rows.reduce((n, row) => n + row.inputIds.length + (row.rejectedIds?.length ?? 0), 0);
      yield { loss: shareOfStep(r.scores, r.loss, r.grad, micro.length), tokens, metrics: {} };
    }
  }

  summarize(): Record<string, number> {
    return {};
  }

  evaluate(rows: TokenizedRow[][]): Record<string, number> {
    const run = (batchRows: TokenizedRow[]) => {
      const r = noGrad(() => this.run(batchRows));
      return { loss: r.loss, metrics: { correct: r.correct, pairs: batchRows.length } };
    };
    const { loss, correct, pairs } = evaluateBatches(rows, run, (sums) => sums);
    return { loss, accuracy: correct / pairs };
  }

  writeWeights(dir: string): void {
    this.head.write(dir);
  }

  private run(rows: TokenizedRow[]): PairwiseResult {
    const b = collatePairs(rows, this.padId);
    const P = rows.length;
    const C = this.model.config.hidden_size;
    const lengths = [...rows.map((r) => r.inputIds.length), ...rows.map((r) => (r.rejectedIds as Int32Array).length)];
    const last = Int32Array.from(lengths, (n, i) => i * b.T + n - 1);
    const h = reshape(this.model.hidden(b.ids, b.B, b.T, {}), [b.B * b.T, C]);
    const scores = this.head.score(gatherRows(h, last)); // (2P, 1)
    const grad = new Float32Array(2 * P);
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < P; i++) {
      const margin = scores.data[i] - scores.data[P + i];
      loss -= logSigmoid(margin);
      const d = -1 / (1 + Math.exp(margin)) / P; // d/dmargin of -log sigmoid(margin), over the pair mean
      grad[i] = d;
      grad[P + i] = -d;
      if (margin > 0) correct++;
    }
    return { scores, loss: loss / P, grad, correct };
  }
}
