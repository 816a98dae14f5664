// Chart data from trainer_log.jsonl rows: step rows give loss, LR and grad norm; eval rows give eval loss.
import { smooth } from '../src/train/smooth.js';
export interface LogRowLike {
  current_steps: number;
  total_steps?: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  eval_loss?: number;
  epoch?: number;
  percentage?: number;
  elapsed_time?: string;
  remaining_time?: string;
  event?: string;
}

export interface RunSeries {
  steps: number[];
  loss: (number | null)[];
  smoothed: (number | null)[];
  evalLoss: (number | null)[];
  lr: (number | null)[];
  gradNorm: (number | null)[];
}

// One x axis for all charts: every step that has a train or eval row, in order; a row logged again for a step
// (an interrupted run's rows replaced on resume) overwrites the earlier one.
export function runSeries(rows: LogRowLike[]): RunSeries {
  const train = new Map<number, LogRowLike>();
  const evals = new Map<number, number>();
  for (const row of rows) {
    if (row.loss !== undefined) train.set(row.current_steps, row);
    else if (row.eval_loss !== undefined) evals.set(row.current_steps, row.eval_loss);
  }
  const steps = [...new Set([...train.keys(), ...evals.keys()])].sort((a, b) => a - b);
  const loss = steps.map((s) => train.get(s)?.loss ?? null);
  const sm = smooth(loss.filter((v): v is number => v !== null));
  let k = 0;
  return {
    steps,
    loss,
    smoothed: loss.map((v) => (v === null ? null : sm[k++])),
    evalLoss: steps.map((s) => evals.get(s) ?? null),
    lr: steps.map((s) => train.get(s)?.lr ?? null),
    gradNorm: steps.map((s) => train.get(s)?.grad_norm ?? null),
  };
}

// The last step row: what the progress bar shows.
export function lastStepRow(rows: LogRowLike[]): LogRowLike | null {
  for (let i = rows.length - 1; i >= 0; i--) if (rows[i].loss !== undefined) return rows[i];
  return null;
}

// The epoch at the furthest step any row states it for: step and eval rows, and checkpoint saves, which also mark the
// end of a run whose last step was not logged (6 steps logged every 5).
export function lastEpoch(rows: LogRowLike[]): number | null {
  let best: LogRowLike | null = null;
  for (const row of rows) if (row.epoch !== undefined && (best === null || row.current_steps >= best.current_steps)) best = row;
  return best?.epoch ?? null;
}
