// The result files HF's Trainer writes for each phase of a run and LLaMA-Factory's run_sft / run_pt call for
// (trainer.save_metrics): <split>_results.json with the phase's metrics, and all_results.json, the union of every
// phase's metrics, so scripts written for LLaMA-Factory's output_dir read Retune's. The train phase's metrics are
// those of HF's Trainer at the end of train(): runtime and rates, total_flos, train_loss and epoch.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Finetuning } from '../model/adapters/index.js';
import type { CausalLM } from '../model/index.js';
import { RetuneError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/write-atomic.js';
import { estimateFlos } from './hf-state.js';
import type { TrainResult } from './trainer.js';

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

// HF's train metrics of a run that trained to its last step, `seconds` being this process's training time. A resumed
// run counts the time, samples and steps of this process (HF divides the whole run's samples and steps by this
// process's time, which overstates the speed), and the loss and flos of the whole run: train_loss is the mean loss of
// every applied step since step 0, so an unchanged resume reports the uninterrupted run's value (HF divides this
// process's summed loss by all steps, which understates it).
export function trainMetrics(result: TrainResult, seconds: number, model: CausalLM, finetuning: Finetuning): Metrics {
  const speed = speedMetrics(seconds, result.samplesRun, result.stepsRun);
  const metrics: Metrics = {};
  for (const [k, v] of Object.entries(speed)) metrics[`train_${k}`] = v;
  return {
    ...metrics, total_flos: estimateFlos(result.tokensSeen, model, finetuning), train_loss: result.trainLoss, epoch: result.epoch,
  };
}

// HF's Trainer.save_metrics: <split>_results.json, and the same keys merged into all_results.json (sorted keys);
// then log_metrics' table on the console.
export function saveMetrics(outputDir: string, split: Split, metrics: Metrics, print: (line: string) => void): void {
  writeJsonAtomic(join(outputDir, `${split}_results.json`), sorted(metrics));
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
  for (const [k, v] of Object.entries(sorted(metrics))) print(`  ${k.padEnd(28)} = ${v}`);
}

function sorted(metrics: Metrics): Metrics {
  return Object.fromEntries(Object.entries(metrics).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
