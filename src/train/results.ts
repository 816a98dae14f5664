// The result files HF's Trainer writes for each phase of a run and LLaMA-Factory's run_sft / run_pt call for
// (trainer.save_metrics): <split>_results.json with the phase's metrics, and all_results.json, the union of every
// phase's metrics, so scripts written for LLaMA-Factory's output_dir read Retune's. The train phase's metrics are
// those of HF's Trainer at the end of train(): runtime and rates, total_flos, train_loss and epoch.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/write-atomic.js';

export type Metrics = Record<string, number>;
export type Split = 'train' | 'eval' | 'predict';

// HF's speed_metrics: runtime rounded to 4 places, rates to 3 (no rates for a zero runtime).
export function speedMetrics(seconds: number, samples: number, steps: number): Metrics {
  if (seconds === 0) return { runtime: 0 };
  return {
    runtime: round(seconds, 4), samples_per_second: round(samples / seconds, 3), steps_per_second: round(steps / seconds, 3),
  };
}

export function round(x: number, places: number): number {
  return Number(x.toFixed(places));
}

// train_results.json: HF's train metrics, in the order its Trainer logs them.
export type TrainResults = {
  train_runtime: number;
  train_samples_per_second: number;
  train_steps_per_second: number;
  total_flos: number;
  train_loss: number;
  epoch: number;
};

// What the whole run reached, whichever processes trained it.
export interface RunTotals {
  trainLoss: number; // the mean loss of every applied step since step 0
  totalFlos: number;
  epoch: number;
}

// HF's train metrics of a run that trained to its last step: the loss, flos and epoch of the whole run, the time,
// samples and steps of this process. A resumed run thereby states what it can state exactly: train_loss of an
// unchanged resume equals the uninterrupted run's (HF divides this process's summed loss by all steps, which
// understates it), and the rates are this process's own (HF divides the whole run's samples and steps by this
// process's time, which overstates them). A process that trained no step (a rerun finishing a run stopped after its
// last checkpoint) reports 0 s and rates of 0, where HF's speed_metrics would leave the rates out.
export function trainMetrics(totals: RunTotals, seconds: number, samples: number, steps: number): TrainResults {
  const speed = speedMetrics(seconds, samples, steps);
  return {
    train_runtime: speed.runtime, train_samples_per_second: speed.samples_per_second ?? 0,
    train_steps_per_second: speed.steps_per_second ?? 0, total_flos: totals.totalFlos, train_loss: totals.trainLoss,
    epoch: totals.epoch,
  };
}

// HF's Trainer.save_metrics: <split>_results.json, and the same keys merged into all_results.json (sorted keys);
// then log_metrics' table on the console. Returns what <split>_results.json received.
export function saveMetrics(outputDir: string, split: Split, metrics: Metrics, print: (line: string) => void): Metrics {
  const saved = sorted(metrics);
  writeJsonAtomic(join(outputDir, `${split}_results.json`), saved);
  const allPath = join(outputDir, 'all_results.json');
  let all: Metrics = {};
  if (existsSync(allPath)) {
    try {
      all = JSON.parse(readFileSync(allPath, 'utf8')) as Metrics;
    } catch (err) {
      throw new RetuneError(`${allPath}: not valid JSON (${(err as Error).message}); move it away to write new results`);
    }
  }
  writeJsonAtomic(allPath, sorted({ ...all, ...metrics }));
  print(`***** ${split} metrics *****`);
  for (const [k, v] of Object.entries(saved)) print(`  ${k.padEnd(28)} = ${v}`);
  return saved;
}

function sorted(metrics: Metrics): Metrics {
  return Object.fromEntries(Object.entries(metrics).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
