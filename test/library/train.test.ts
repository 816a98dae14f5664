// The library's train(): what `retune train` runs, resolving with the metrics the run wrote. The train_* fields are
// train_results.json's values under camelCase names; evalResults and predictResults are eval_results.json and
// predict_results.json as written.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, train } from '../../src/index.js';
import { explain, stepRows, tempDir, train as trainWithCli, writeConfig } from '../train/run-helpers.js';

type Metrics = Record<string, number>;
const readJson = (path: string): Metrics => JSON.parse(readFileSync(path, 'utf8')) as Metrics;

// 10 steps (20 samples, batch 2 x 2, 2 epochs), every step logged; then BLEU/ROUGE of greedy replies to the 14 prompts
// of another dataset (do_eval with predict_with_generate) and the same replies as predictions (do_predict).
const afterTraining = {
  do_eval: true, do_predict: true, predict_with_generate: true, eval_dataset: 'animals_more', max_new_tokens: 8,
  do_sample: false, per_device_eval_batch_size: 4,
};

test('train() resolves with train_results.json\'s metrics and the eval / predict results it wrote', async () => {
  const cliDir = tempDir('library-cli');
  const cli = trainWithCli(writeConfig(cliDir));
  const dir = tempDir('library-train');
  const metrics = await train(loadConfig(writeConfig(dir, afterTraining), []));
  assert.ok(metrics !== null);
  const out = join(dir, 'out');
  const written = readJson(join(out, 'train_results.json'));
  assert.deepEqual({
    trainLoss: metrics.trainLoss, trainRuntime: metrics.trainRuntime, trainSamplesPerSecond: metrics.trainSamplesPerSecond,
    trainStepsPerSecond: metrics.trainStepsPerSecond, totalFlos: metrics.totalFlos, epoch: metrics.epoch,
  }, {
    trainLoss: written.train_loss, trainRuntime: written.train_runtime, trainSamplesPerSecond: written.train_samples_per_second,
    trainStepsPerSecond: written.train_steps_per_second, totalFlos: written.total_flos, epoch: written.epoch,
  });
  // The mean of the 10 logged losses, summed in step order as the trainer sums them.
  let sum = 0;
  for (const row of stepRows(out).values()) sum += row.loss;
  assert.equal(metrics.trainLoss, sum / 10);
  assert.equal(metrics.epoch, 2);
  assert.ok(metrics.trainRuntime !== null && metrics.trainRuntime > 0);

  assert.deepEqual(metrics.evalResults, readJson(join(out, 'eval_results.json')));
  assert.deepEqual(metrics.predictResults, readJson(join(out, 'predict_results.json')));
  assert.equal(typeof metrics.evalResults?.['eval_bleu-4'], 'number');
  assert.equal(typeof metrics.predictResults?.['predict_rouge-l'], 'number');
  assert.equal(metrics.evalResults?.epoch, 2);

  // `retune train` on the same training config reports the same loss, flos and epoch.
  const r = await cli;
  assert.equal(r.code, 0, explain(r));
  const cliResults = readJson(join(cliDir, 'out', 'train_results.json'));
  assert.equal(metrics.trainLoss, cliResults.train_loss);
  assert.equal(metrics.totalFlos, cliResults.total_flos);
  assert.equal(metrics.epoch, cliResults.epoch);
});

test('train() without do_eval / do_predict: no eval or predict results; a dry run resolves with null', async () => {
  const dir = tempDir('library-plain');
  const cfg = writeConfig(dir);
  const dry = await train(cfg, { dryRun: true });
  assert.equal(dry, null);
  const metrics = await train(cfg);
  assert.equal(metrics?.evalResults, null);
  assert.equal(metrics?.predictResults, null);
  assert.equal(metrics?.trainLoss, readJson(join(dir, 'out', 'train_results.json')).train_loss);
});
