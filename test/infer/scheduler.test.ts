import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { QueueFullError, Scheduler } from '../../src/infer/scheduler.js';
import { generate } from '../../src/model/generate.js';
import { loadModel } from '../../src/model/load.js';
import { UsageError } from '../../src/util/errors.js';
import { modelDir } from '../model/helpers.js';

const prompts = [[5, 17, 99], [3, 42, 7, 8, 120, 64, 9], [11], [100, 101, 102, 103]];

test('concurrent requests decode batched to the same tokens as one at a time, greedy and seeded sampling', async () => {
  setBackend('native');
  const model = await loadModel(modelDir('qwen3-sharded'));
  const scheduler = new Scheduler(model, { maxBatch: 3 });
  const greedy = { temperature: 0 };
  const sampled = { temperature: 1.2, topK: 0, topP: 0.9, seed: 7 };
  const requests = prompts.flatMap((p, i) => [
    { promptIds: p, maxNewTokens: 6 + i, sampling: greedy, stopIds: [] },
    { promptIds: p, maxNewTokens: 5, sampling: { ...sampled, seed: i }, stopIds: [] },
  ]);
  const forward = model.forward.bind(model);
  const tokensPerForward: number[] = [];
  model.forward = (ids, B, T, opts) => (tokensPerForward.push(B * T), forward(ids, B, T, opts));
  const results = await Promise.all(requests.map((r) => scheduler.submit(r)));
  model.forward = forward;
  // The first three prompts (3 + 3 + 7 tokens) run as one packed prefill, then one token per sequence per step.
  assert.deepEqual(tokensPerForward.slice(0, 2), [13, 3]);
  requests.forEach((r, i) => {
    assert.deepEqual(results[i].ids, generate(model, r.promptIds, { maxNewTokens: r.maxNewTokens, ...r.sampling }), `request ${i}`);
    assert.equal(results[i].finishReason, 'length');
  });
  assert.deepEqual(scheduler.load, { active: 0, waiting: 0 });
});

test('stop ids and onToken end a sequence; an abort frees its slot at once', async () => {
  const model = await loadModel(modelDir('llama-tied'));
  const scheduler = new Scheduler(model, { maxBatch: 1 });
  const full = generate(model, prompts[0], { maxNewTokens: 8, temperature: 0 });
  const stopped = await scheduler.submit({ promptIds: prompts[0], maxNewTokens: 8, sampling: { temperature: 0 }, stopIds: [full[2]] });
  assert.deepEqual(stopped, { ids: full.slice(0, full.indexOf(full[2])), finishReason: 'stop' });
  let seen = 0;
  const cut = await scheduler.submit({ promptIds: prompts[0], maxNewTokens: 8, sampling: { temperature: 0 }, stopIds: [], onToken: () => ++seen < 4 });
  assert.deepEqual(cut, { ids: full.slice(0, 4), finishReason: 'stop' });

  // One slot: a long request holds it until aborted, then the queued one runs.
  const controller = new AbortController();
  let tokens = 0;
  const long = scheduler.submit({
    promptIds: prompts[1], maxNewTokens: 100, sampling: { temperature: 0 }, stopIds: [], signal: controller.signal,
    onToken: () => void (++tokens === 3 && controller.abort()),
  });
  const queued = scheduler.submit({ promptIds: prompts[0], maxNewTokens: 8, sampling: { temperature: 0 }, stopIds: [] });
  assert.equal((await long).finishReason, 'aborted');
  assert.ok((await long).ids.length < 10, 'the aborted request stopped decoding');
  assert.deepEqual((await queued).ids, full);
});

test('a full queue and a request beyond the context are refused at submit', async () => {
  const model = await loadModel(modelDir('llama-tied'));
  const scheduler = new Scheduler(model, { maxBatch: 1, maxQueue: 1 });
  const req = { promptIds: prompts[0], maxNewTokens: 4, sampling: { temperature: 0 }, stopIds: [] };
  const running = [scheduler.submit(req), scheduler.submit(req)]; // one decoding, one queued
  assert.throws(() => scheduler.submit(req), QueueFullError);
  await Promise.all(running);
  const limit = model.config.max_position_embeddings;
  assert.throws(() => scheduler.submit({ ...req, maxNewTokens: limit }), (err: unknown) =>
    err instanceof UsageError && err.message.includes(`${limit + 3} in all`) && err.message.includes(`context is ${limit} tokens`));
  assert.throws(() => scheduler.submit({ ...req, sampling: { topP: 2 } }), /top_p/);
});
