// train_results.json and all_results.json, as HF's Trainer writes them at the end of train() and LLaMA-Factory's
// run_sft saves them: every value checked against what the run's own trainer_log.jsonl and weights say it must be.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { explain, FIXTURE, tempDir, train, trainUntil, writeConfig, type RunResult } from './run-helpers.js';

type Metrics = Record<string, number>;
const readJson = (path: string): Metrics => JSON.parse(readFileSync(path, 'utf8')) as Metrics;

// 20 samples, batch 2 x 2, 8 epochs: 40 steps of 4 samples, every step logged (logging_steps 1), checkpoints every 5.
const settings = { num_train_epochs: 8, save_steps: 5 };
const STEPS = 40;
const SAMPLES_PER_STEP = 4;

interface StepLog { current_steps: number; loss: number; epoch: number; total_tokens: number }

function stepRows(out: string): StepLog[] {
  return readFileSync(join(out, 'trainer_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog)
    .filter((row) => 'loss' in row);
}

// Parameters HF's floating_point_ops counts: the base model's without the embedding, plus the LoRA adapter's.
function countedParameters(out: string): number {
  let n = 0;
  for (const file of [join(FIXTURE, 'model', 'model.safetensors'), join(out, 'adapter_model.safetensors')]) {
    for (const [name, entry] of readSafetensorsHeader(file).entries) {
      if (name !== 'model.embed_tokens.weight') n += entry.shape.reduce((a, b) => a * b, 1);
    }
  }
  return n;
}

// The rates are this process's samples and steps over its runtime, both rounded as HF's speed_metrics rounds them.
function assertRates(results: Metrics, steps: number): void {
  const close = (rate: number, count: number): boolean => Math.abs(rate * results.train_runtime - count) <= count * 2e-3;
  assert.ok(results.train_runtime > 0, JSON.stringify(results));
  assert.ok(close(results.train_steps_per_second, steps), JSON.stringify(results));
  assert.ok(close(results.train_samples_per_second, steps * SAMPLES_PER_STEP), JSON.stringify(results));
}

const straightDir = tempDir('results');
const started = Date.now();
const straight: Promise<RunResult> = train(writeConfig(straightDir, settings));

test('a finished run writes HF\'s train metrics to train_results.json and all_results.json, from its own log', async () => {
  const r = await straight;
  assert.equal(r.code, 0, explain(r));
  const out = join(straightDir, 'out');
  const results = readJson(join(out, 'train_results.json'));
  assert.deepEqual(Object.keys(results),
    ['epoch', 'total_flos', 'train_loss', 'train_runtime', 'train_samples_per_second', 'train_steps_per_second']);
  assert.deepEqual(readJson(join(out, 'all_results.json')), results);

  const rows = stepRows(out);
  assert.equal(rows.length, STEPS);
  // One row per step: the mean of the rows' losses is the mean over every step, summed in step order as the trainer does.
  let sum = 0;
  for (const row of rows) sum += row.loss;
  assert.equal(results.train_loss, sum / STEPS);
  const last = rows[STEPS - 1];
  assert.equal(results.epoch, last.epoch);
  assert.equal(results.epoch, 8);
  assert.equal(results.total_flos, 6 * last.total_tokens * countedParameters(out));
  // trainer_state.json, copied from the final checkpoint, holds the same count, as HF's state does.
  assert.equal(readJson(join(out, 'trainer_state.json')).total_flos, results.total_flos);
  assertRates(results, STEPS);
  assert.ok(results.train_runtime < (Date.now() - started) / 1000);

  const table = r.stdout.indexOf('***** train metrics *****');
  assert.ok(table > r.stdout.indexOf(`step ${STEPS}/${STEPS}`) && table < r.stdout.indexOf('training finished'), explain(r));
  assert.match(r.stdout, new RegExp(`train_loss +=\\s*${results.train_loss}\\n`));
});

// HF's Trainer sums the losses of the steps run by this process and divides by all steps (train_loss understates the
// loss of a resumed run) and divides the whole run's samples by this process's time (the rates overstate its speed).
// Retune reports what a resumed run can state exactly: the loss of the whole run (an unchanged resume continues bit
// for bit, so it equals the uninterrupted run's), its epoch and flos, and this process's own time, samples and steps.
test('SIGTERM, then resume: no train_results until the run ends; then the whole run\'s loss, this process\'s speed', async () => {
  await straight;
  const straightResults = readJson(join(straightDir, 'out', 'train_results.json'));
  const dir = tempDir('results-term');
  const cfg = writeConfig(dir, settings);
  const stopped = await trainUntil(cfg, /step 2\/40/);
  assert.equal(stopped.signal, 'SIGTERM', explain(stopped));
  const out = join(dir, 'out');
  assert.equal(existsSync(join(out, 'train_results.json')), false);
  assert.equal(existsSync(join(out, 'all_results.json')), false);

  const resumed = await train(cfg);
  assert.equal(resumed.code, 0, explain(resumed));
  const from = Number(/Resume plan: checkpoint-\d+, step (\d+) of 40/.exec(resumed.stdout)?.[1]);
  assert.ok(from > 0 && from < STEPS, explain(resumed));
  const results = readJson(join(out, 'train_results.json'));
  assert.equal(results.train_loss, straightResults.train_loss);
  assert.equal(results.epoch, straightResults.epoch);
  assert.equal(results.total_flos, straightResults.total_flos);
  assertRates(results, STEPS - from);
  assert.deepEqual(readJson(join(out, 'all_results.json')), results);
});
