// The end of a run in output_dir: the final weights, train_results.json / all_results.json, and trainer_state.json with
// the row HF's Trainer logs at the end of train(). A run that fails between these writes (here: a folder in the way
// of one file, put there while the run trains) is completed by a rerun of the same command, with the straight run's
// train_loss, epoch and total_flos; the checkpoints stay as they were saved.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyCheckpoint } from '../../src/train/checkpoint.js';
import { explain, startTrain, tempDir, train, waitForOutput, writeConfig, type RunResult } from './run-helpers.js';

type Json = Record<string, unknown>;
type Metrics = Record<string, number>;
const readJson = <T = Json>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const historyOf = (path: string): Metrics[] => readJson<{ log_history: Metrics[] }>(path).log_history;

// 20 samples, batch 2 x 2, 8 epochs: 40 steps, checkpoints every 20 (the last one is checkpoint-40).
const settings = { num_train_epochs: 8, save_steps: 20 };
const STEPS = 40;
const HF_ROW_KEYS = [
  'train_runtime', 'train_samples_per_second', 'train_steps_per_second', 'total_flos', 'train_loss', 'epoch', 'step',
];

const straightDir = tempDir('finish');
const straight: Promise<RunResult> = train(writeConfig(straightDir, settings));

// Starts the run, puts a folder where `name` will be written once training is under way, and resolves when it ended.
async function trainWithFolderInTheWay(cfg: string, out: string, name: string): Promise<RunResult> {
  const run = startTrain(cfg);
  await waitForOutput(run.child, /step 1\/40/);
  mkdirSync(join(out, name));
  return run.done;
}

test('output_dir\'s trainer_state.json is the final checkpoint\'s plus HF\'s train row; a rerun changes no byte', async () => {
  const r = await straight;
  assert.equal(r.code, 0, explain(r));
  const out = join(straightDir, 'out');
  const results = readJson<Metrics>(join(out, 'train_results.json'));
  const state = readJson(join(out, 'trainer_state.json'));
  const checkpoint = join(out, `checkpoint-${STEPS}`);
  const saved = readJson(join(checkpoint, 'trainer_state.json'));
  const history = state.log_history as Metrics[];
  const row = history.at(-1) as Metrics;
  assert.deepEqual(Object.keys(row), HF_ROW_KEYS);
  assert.deepEqual(row, { ...results, step: STEPS });
  assert.deepEqual({ ...state, log_history: history.slice(0, -1) }, saved);
  assert.equal((saved.log_history as Metrics[]).some((e) => 'train_loss' in e), false);

  const files = ['trainer_state.json', 'train_results.json', 'all_results.json', 'adapter_model.safetensors'];
  const before = new Map(files.map((f) => [f, readFileSync(join(out, f))]));
  const again = await train(writeConfig(straightDir, settings));
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /nothing to train: the run already reached 40 steps/);
  assert.doesNotMatch(again.stdout, /lacks the/);
  for (const [f, bytes] of before) assert.ok(readFileSync(join(out, f)).equals(bytes), `the rerun changed ${f}`);
  assert.equal(verifyCheckpoint(checkpoint).ok, true);
});

test('a run that fails before train_results.json: the rerun writes it with the straight run\'s loss, 0 s of its own', async () => {
  await straight;
  const straightOut = join(straightDir, 'out');
  const straightResults = readJson<Metrics>(join(straightOut, 'train_results.json'));
  const dir = tempDir('finish-results');
  const cfg = writeConfig(dir, settings);
  const out = join(dir, 'out');
  const failed = await trainWithFolderInTheWay(cfg, out, 'train_results.json');
  assert.equal(failed.code, 1, explain(failed));
  assert.match(failed.stderr, /train_results\.json.*checkpoint-40 holds the finished run: run the same command again/, explain(failed));
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')), 'the weights were copied before the failure');
  assert.equal(existsSync(join(out, 'trainer_state.json')), false);
  rmdirSync(join(out, 'train_results.json'));

  const dry = await train(cfg, ['--dry-run']);
  assert.equal(dry.code, 0, explain(dry));
  assert.match(dry.stdout, /lacks the train results of checkpoint-40 \(train_results\.json is missing\); the run will write them/);
  assert.match(dry.stdout, /lacks the final files of checkpoint-40 \(trainer_state\.json\)/);
  assert.equal(existsSync(join(out, 'train_results.json')), false, 'a dry run wrote train_results.json');

  const rerun = await train(cfg);
  assert.equal(rerun.code, 0, explain(rerun));
  assert.match(rerun.stdout, /nothing to train/);
  assert.match(rerun.stdout, /\*\*\*\*\* train metrics \*\*\*\*\*/);
  const results = readJson<Metrics>(join(out, 'train_results.json'));
  assert.deepEqual(results, {
    ...straightResults, train_runtime: 0, train_samples_per_second: 0, train_steps_per_second: 0,
  });
  assert.deepEqual(readJson(join(out, 'all_results.json')), results);
  const history = historyOf(join(out, 'trainer_state.json'));
  assert.deepEqual(history.at(-1), { ...results, step: STEPS });
  assert.deepEqual(history.slice(0, -1), historyOf(join(out, `checkpoint-${STEPS}`, 'trainer_state.json')));
  assert.equal(verifyCheckpoint(join(out, `checkpoint-${STEPS}`)).ok, true);
});

test('a run that fails after train_results.json: the rerun writes trainer_state.json and keeps the results', async () => {
  const dir = tempDir('finish-state');
  const cfg = writeConfig(dir, settings);
  const out = join(dir, 'out');
  const failed = await trainWithFolderInTheWay(cfg, out, 'trainer_state.json');
  assert.equal(failed.code, 1, explain(failed));
  assert.match(failed.stderr, /trainer_state\.json/, explain(failed));
  const results = readFileSync(join(out, 'train_results.json'));
  rmdirSync(join(out, 'trainer_state.json'));

  const rerun = await train(cfg);
  assert.equal(rerun.code, 0, explain(rerun));
  assert.match(rerun.stdout, /lacks the final files of checkpoint-40 \(trainer_state\.json\).*wrote them from the checkpoint/);
  assert.doesNotMatch(rerun.stdout, /train metrics/);
  assert.ok(readFileSync(join(out, 'train_results.json')).equals(results));
  const row = historyOf(join(out, 'trainer_state.json')).at(-1) as Metrics;
  assert.deepEqual(row, { ...JSON.parse(results.toString()), step: STEPS });
  assert.ok(row.train_runtime > 0, 'the row holds the first process\'s runtime');
});

test('extending a finished run: the resume reads the checkpoint\'s history, output_dir gets one train row, the new one', async () => {
  const dir = tempDir('finish-extend');
  const out = join(dir, 'out');
  const first = await train(writeConfig(dir));
  assert.equal(first.code, 0, explain(first));
  const extended = await train(writeConfig(dir, { num_train_epochs: 3 }));
  assert.equal(extended.code, 0, explain(extended));
  assert.match(extended.stdout, /Resume plan: checkpoint-10, step 10 of 15/);
  const history = historyOf(join(out, 'trainer_state.json'));
  const trainRows = history.filter((e) => 'train_loss' in e);
  assert.deepEqual(trainRows, [{ ...readJson<Metrics>(join(out, 'train_results.json')), step: 15 }]);
  assert.deepEqual(history.slice(0, -1), historyOf(join(out, 'checkpoint-15', 'trainer_state.json')));
  assert.deepEqual(history.slice(0, 10), historyOf(join(out, 'checkpoint-10', 'trainer_state.json')));
  assert.equal(verifyCheckpoint(join(out, 'checkpoint-10')).ok, true);
});
