// Evaluate & Predict over HTTP: the Board runs `retune train <dir>/eval_args.yaml` with do_train false on a trained
// run's weights, streams its console and progress, and serves the CLI's result files; bad configs are refused with
// the CLI's message before anything is written, and a run that fails reports the CLI's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { call, openEvents, quickstartConfig, quickstartRoot, startBoard, trainToEnd } from './board-helpers.js';

const root = quickstartRoot();
const board = await startBoard(root);
test.after(() => board.close());

const evalConfig = (extra: Record<string, unknown> = {}) => ({
  do_train: false, do_eval: true, do_predict: true, predict_with_generate: true, dataset_dir: 'data',
  eval_dataset: 'identity', max_samples: 4, cutoff_len: 64, per_device_eval_batch_size: 2, max_new_tokens: 8,
  do_sample: false, output_dir: 'saves/x-eval', ...extra,
});

async function finish(dir: string): Promise<{ state: string; message: string; done: string[]; parts: string[] }> {
  const events = await openEvents(board, `/api/evaluate/events?dir=${encodeURIComponent(dir)}`);
  const end = await events.waitFor((e) => e.type === 'status' && (e.status as { state: string }).state !== 'running', 120_000);
  const lines = events.events.filter((e) => e.type === 'log').map((e) => e.line as string);
  events.close();
  const status = end.status as { state: string; message: string; done: string[]; parts: string[] };
  assert.ok(status.state !== 'finished' || lines.some((l) => /eval metrics/.test(l)) || !status.parts.includes('eval'), lines.join('\n'));
  return status;
}

test("eval and predict on a run's output dir: the CLI's results, progress by part, and the first predictions", async () => {
  await trainToEnd(board, quickstartConfig({ output_dir: 'saves/x', max_steps: 2 }));
  const started = await call(board, 'POST', '/api/evaluate/start', { config: evalConfig({ template: 'chatml' }), run: 'saves/x' });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  assert.deepEqual(started.body.argv, ['retune', 'train', 'saves/x-eval/eval_args.yaml']);
  const args = parse(readFileSync(join(root, 'saves/x-eval/eval_args.yaml'), 'utf8')) as Record<string, unknown>;
  assert.equal(args.do_train, false);
  assert.equal(args.model_name_or_path, 'models/tiny-stories');
  assert.equal(args.adapter_name_or_path, 'saves/x');

  const status = await finish('saves/x-eval');
  assert.equal(status.state, 'finished', status.message);
  assert.deepEqual(status.parts, ['eval', 'predict']);
  assert.deepEqual(status.done, ['eval', 'predict']);

  const results = await call(board, 'GET', '/api/evaluate/results?dir=saves/x-eval');
  assert.equal(results.status, 200);
  const { eval: ev, predict, predictions, predictionCount } = results.body;
  assert.ok(ev.eval_loss > 0 && Math.abs(ev.perplexity - Math.exp(ev.eval_loss)) < 1e-6 * ev.perplexity, JSON.stringify(ev));
  for (const k of ['predict_bleu-4', 'predict_rouge-1', 'predict_rouge-2', 'predict_rouge-l']) assert.equal(typeof predict[k], 'number', k);
  assert.equal(predictionCount, 4);
  const file = readFileSync(join(root, 'saves/x-eval/generated_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(predictions, file);
  assert.match(predictions[0].prompt, /Who are you\?|<\|im_start\|>user/);
});

test('bad configs are refused with the CLI message and write nothing', async () => {
  const noGenerate = await call(board, 'POST', '/api/evaluate/start', {
    config: evalConfig({ model_name_or_path: 'models/tiny-stories', template: 'chatml', predict_with_generate: false, output_dir: 'saves/e1' }),
  });
  assert.equal(noGenerate.status, 400);
  assert.equal(noGenerate.body.error, 'form: do_predict needs predict_with_generate: true (the predictions are generated)');
  assert.equal(existsSync(join(root, 'saves/e1')), false);

  const nothing = await call(board, 'POST', '/api/evaluate/start', {
    config: evalConfig({ model_name_or_path: 'models/tiny-stories', do_eval: false, do_predict: false, output_dir: 'saves/e1' }),
  });
  assert.equal(nothing.status, 400);
  assert.match(nothing.body.error, /do_eval, do_predict or both/);

  const before = readFileSync(join(root, 'saves/x/training_args.yaml'), 'utf8');
  const intoRun = await call(board, 'POST', '/api/evaluate/start', { config: evalConfig({ output_dir: 'saves/x' }), run: 'saves/x' });
  assert.equal(intoRun.status, 409);
  assert.match(intoRun.body.error, /saves\/x holds a training run; choose another folder/);
  assert.equal(readFileSync(join(root, 'saves/x/training_args.yaml'), 'utf8'), before);
  assert.equal(existsSync(join(root, 'saves/x/eval_args.yaml')), false);

  const outside = await call(board, 'POST', '/api/evaluate/start', {
    config: evalConfig({ model_name_or_path: 'models/tiny-stories', output_dir: '../escape' }),
  });
  assert.equal(outside.status, 403);
  const outsideRun = await call(board, 'POST', '/api/evaluate/start', { config: evalConfig({ output_dir: 'saves/e3' }), run: '../x' });
  assert.equal(outsideRun.status, 403);
  assert.equal(existsSync(join(root, 'saves/e3')), false);
  assert.equal((await call(board, 'GET', '/api/evaluate/results?dir=../')).status, 403);
});

test('a run that fails shows the CLI message', async () => {
  const started = await call(board, 'POST', '/api/evaluate/start', {
    config: evalConfig({ model_name_or_path: 'models/tiny-stories', template: 'chatml', eval_dataset: 'missing', output_dir: 'saves/e2' }),
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const status = await finish('saves/e2');
  assert.equal(status.state, 'failed');
  assert.match(status.message, /missing/);
  assert.doesNotMatch(status.message, /^retune:/);
  assert.deepEqual(status.done, []);
});
