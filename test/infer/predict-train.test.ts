// do_train with do_eval and do_predict in one `retune train` run, as LLaMA-Factory's run_sft does: train, then
// evaluate, then predict, on the weights the run left in output_dir. A run stopped by SIGTERM and resumed, or rerun
// after it finished, ends with the same eval loss and predictions as one uninterrupted run.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, train as trainWithLibrary } from '../../src/index.js';
import { explain, tempDir, train, trainUntil, writeConfig, type RunResult } from '../train/run-helpers.js';

// 20 samples, batch 2 x 2, 4 epochs: 20 steps (enough for SIGTERM to land mid-training); checkpoints every 3.
// Predict 14 prompts of another dataset, 4 decoded together.
const settings = {
  num_train_epochs: 4, do_eval: true, do_predict: true, predict_with_generate: true, eval_dataset: 'animals_more', max_new_tokens: 8,
  do_sample: false, per_device_eval_batch_size: 4, save_steps: 3,
};

type Metrics = Record<string, number>;
const readJson = (path: string): Metrics => JSON.parse(readFileSync(path, 'utf8')) as Metrics;
const predictions = (out: string): string => readFileSync(join(out, 'generated_predictions.jsonl'), 'utf8');
// The evaluation and prediction metrics that do not measure time.
function scores(out: string): Metrics {
  const all = readJson(join(out, 'all_results.json'));
  return Object.fromEntries(Object.entries(all).filter(([k]) => /^(eval|predict)_/.test(k) && !/runtime|per_second/.test(k)));
}

const straightDir = tempDir('train-predict');
const straight: Promise<RunResult> = train(writeConfig(straightDir, settings));

test('one run trains, then evaluates and predicts on the trained adapter; the plan says so first', async () => {
  const r = await straight;
  assert.equal(r.code, 0, explain(r));
  const out = join(straightDir, 'out');
  const plan = r.stdout.indexOf(`After training, on the weights in ${out}:`);
  const firstStep = r.stdout.indexOf('step 1/20');
  const finished = r.stdout.indexOf('training finished at step 20');
  assert.ok(plan >= 0 && plan < firstStep, explain(r));
  assert.match(r.stdout, /do_eval: BLEU-4 and ROUGE of generated replies on eval_dataset animals_more -> eval_results\.json/);
  assert.match(r.stdout, /do_predict: a greedy reply of up to 8 tokens to every eval_dataset animals_more prompt, 4 decoded together/);
  assert.ok(finished > firstStep && r.stdout.indexOf('***** eval metrics *****') > finished, explain(r));
  assert.ok(r.stdout.indexOf('***** predict metrics *****') > r.stdout.indexOf('***** eval metrics *****'));

  // all_results.json: every phase's keys, as HF's save_metrics merges them. Evaluation after training carries the
  // run's epoch (HF's evaluate logs it); prediction does not.
  const trainResults = readJson(join(out, 'train_results.json'));
  const evalResults = readJson(join(out, 'eval_results.json'));
  const predictResults = readJson(join(out, 'predict_results.json'));
  assert.equal(evalResults.epoch, trainResults.epoch);
  assert.equal(predictResults.epoch, undefined);
  assert.deepEqual(readJson(join(out, 'all_results.json')), Object.fromEntries(
    Object.entries({ ...trainResults, ...evalResults, ...predictResults }).sort(([a], [b]) => (a < b ? -1 : 1))));
  assert.equal(predictions(out).trim().split('\n').length, 14);

  // The same files as evaluating the trained adapter on its own, and not those of the untrained model.
  const aloneDir = tempDir('trained-alone');
  const alone = await train(writeConfig(aloneDir, { ...settings, do_train: false, adapter_name_or_path: out }));
  assert.equal(alone.code, 0, explain(alone));
  const aloneOut = join(aloneDir, 'out');
  assert.equal(predictions(aloneOut), predictions(out));
  assert.deepEqual(scores(aloneOut), scores(out));
  const baseDir = tempDir('base');
  const base = await train(writeConfig(baseDir, { ...settings, do_train: false }));
  assert.equal(base.code, 0, explain(base));
  assert.notEqual(predictions(join(baseDir, 'out')), predictions(out));
});

test('SIGTERM during training: no results yet; the resumed run ends with the straight run\'s eval and predictions', async () => {
  await straight;
  const dir = tempDir('train-predict-term');
  const cfg = writeConfig(dir, settings);
  const stopped = await trainUntil(cfg, /step 1\/20/);
  assert.equal(stopped.signal, 'SIGTERM', explain(stopped));
  const out = join(dir, 'out');
  assert.equal(existsSync(join(out, 'eval_results.json')), false);
  assert.equal(existsSync(join(out, 'generated_predictions.jsonl')), false);

  const resumed = await train(cfg);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.match(resumed.stdout, /Resume plan: checkpoint-\d+, step \d+ of 20/);
  assert.match(resumed.stdout, /After training, on the weights in /);
  assert.equal(predictions(out), predictions(join(straightDir, 'out')));
  assert.deepEqual(scores(out), scores(join(straightDir, 'out')));

  // Stopped after training (during evaluation): the same command finds nothing to train and evaluates again.
  const again = await train(cfg);
  assert.equal(again.code, 0, explain(again));
  assert.doesNotMatch(again.stdout, /step \d+\/20 loss/);
  assert.match(again.stdout, /\*\*\*\*\* predict metrics \*\*\*\*\*/);
  assert.equal(predictions(out), predictions(join(straightDir, 'out')));
  assert.deepEqual(scores(out), scores(join(straightDir, 'out')));
});

test('the library\'s train runs the same evaluation after training, with the same files', async () => {
  await straight;
  const dir = tempDir('train-predict-library');
  const lines: string[] = [];
  const metrics = await trainWithLibrary(loadConfig(writeConfig(dir, settings), []), { onLog: (line) => lines.push(line) });
  assert.equal(metrics?.globalStep, 20);
  assert.ok(lines.includes('***** predict metrics *****'), lines.join('\n'));
  assert.equal(predictions(join(dir, 'out')), predictions(join(straightDir, 'out')));
  assert.deepEqual(scores(join(dir, 'out')), scores(join(straightDir, 'out')));
});

test('full fine-tuning: evaluation opens the weights written to output_dir; a dry run only shows the plan', async () => {
  const dir = tempDir('train-predict-full');
  const full = { ...settings, finetuning_type: 'full', max_steps: 2, learning_rate: 1e-3, do_eval: false };
  const dry = await train(writeConfig(dir, full), ['--dry-run']);
  assert.equal(dry.code, 0, explain(dry));
  assert.match(dry.stdout, /After training, on the weights in .*\n {2}do_predict: /);
  assert.equal(existsSync(join(dir, 'out', 'predict_results.json')), false);

  const r = await train(writeConfig(dir, full));
  assert.equal(r.code, 0, explain(r));
  const out = join(dir, 'out');
  assert.equal(existsSync(join(out, 'eval_results.json')), false);
  const aloneDir = tempDir('full-alone');
  const alone = await train(writeConfig(aloneDir, { ...full, do_train: false, model_name_or_path: out }));
  assert.equal(alone.code, 0, explain(alone));
  assert.equal(predictions(join(aloneDir, 'out')), predictions(out));
});

test('what evaluation after training cannot do stops with exit 2 before training', async () => {
  const dir = tempDir('train-predict-bad');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ stage: 'dpo', do_predict: false }, /do_eval after training reports the language-model loss of stages sft and pt, not dpo/],
    [{ train_from_scratch: true }, /output_dir holds only the adapter of a random base/],
    [{ eval_dataset: null }, /eval_dataset is required by do_predict/],
  ];
  for (const [extra, message] of cases) {
    const r = await train(writeConfig(dir, { ...settings, ...extra }));
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, message);
    assert.equal(existsSync(join(dir, 'out')), false);
  }
});
