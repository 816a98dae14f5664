// What a training stage hands the trainer: the loss of each micro-batch of an optimizer step (the trainer runs
// backward between them), the stage's metrics, and its evaluation. pt and sft are the causal-LM loss; every stage
// keeps the one training loop in trainer.ts.
import { collate, type Batch, type TokenizedRow } from '../../data/index.js';
import type { CausalLM } from '../../model/index.js';
import { noGrad } from '../../tensor/autograd.js';
import { scalarWithGrad } from '../../tensor/ops.js';
import type { Tensor } from '../../tensor/tensor.js';

const IGNORE = -100;

export interface MicroLoss {
  loss: Tensor; // scalar, scaled so that the micro-batches of one step add up to the step's loss
  tokens: number; // non-pad tokens that went through the model
  metrics: Record<string, number>; // this micro-batch's raw stage metrics, summed over a log window by the trainer
}

export interface Objective {
  // One MicroLoss per micro-batch, in order; the trainer calls backward on each before asking for the next.
  microLosses(micro: TokenizedRow[][]): Generator<MicroLoss>;
  // The metrics a log row shows, from the raw metrics summed over the window's micro-batches.
  summarize(sums: Record<string, number>, microBatches: number): Record<string, number>;
  // Metrics over a whole evaluation split, keys without the eval_ prefix (loss, perplexity, rewards/chosen, ...).
  evaluate(rows: TokenizedRow[][]): Record<string, number>;
  // Files the stage trains beside the model's weights (rm: value_head.safetensors), into checkpoints and output_dir.
  writeWeights?(dir: string): void;
}

// A micro-batch's loss as its share of the step's: the stage's scalar over `outputs` (its value and its gradient with
// respect to them, computed by the stage) divided by the step's micro-batches, so their gradients add up to the step's.
export function shareOfStep(outputs: Tensor, loss: number, grad: Float32Array, microBatches: number): Tensor {
  const share = 1 / microBatches;
  for (let i = 0; i < grad.length; i++) grad[i] *= share;
  return scalarWithGrad(outputs, loss * share, grad);
}

// Each metric's mean over the micro-batches, as LLaMA-Factory's DPO trainer logs them.
export function meanMetrics(sums: Record<string, number>, microBatches: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) out[k] = v / microBatches;
  return out;
}

// Targets the model's shifted loss sees: labels at positions 1..T-1 of each row that are not ignored.
export function countTargets(batch: Batch): number {
  let n = 0;
  for (let b = 0; b < batch.B; b++) {
    for (let t = 1; t < batch.T; t++) if (batch.labels[b * batch.T + t] !== IGNORE) n++;
  }
  return n;
}

// The loss averaged over samples and the metrics summed over batches, then summarized as in training.
export function evaluateBatches(
  rows: TokenizedRow[][], run: (batchRows: TokenizedRow[]) => { loss: number; metrics: Record<string, number> },
  summarize: (sums: Record<string, number>, batches: number) => Record<string, number>,
): Record<string, number> {
  let lossSum = 0;
  let samples = 0;
  const sums: Record<string, number> = {};
  for (const batchRows of rows) {
    const r = run(batchRows);
    lossSum += r.loss * batchRows.length;
    samples += batchRows.length;
    for (const [k, v] of Object.entries(r.metrics)) sums[k] = (sums[k] ?? 0) + v;
  }
  return { loss: lossSum / Math.max(1, samples), ...summarize(sums, rows.length) };
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

  summarize(): Record<string, number> {
    return {};
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
