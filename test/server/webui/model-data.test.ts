// Model and data routes over HTTP on the quickstart model and data: config.json facts and the parameter count, the
// datasets of dataset_info.json, and rows converted and tokenized as training converts and tokenizes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { guessTemplate } from '../../../src/server/webui/model-data.js';
import { call, quickstartConfig, quickstartRoot, startBoard } from './board-helpers.js';

const root = quickstartRoot();
const board = await startBoard(root);
test.after(() => board.close());

test('templates are guessed from model names as LLaMA-Factory\'s Board does', () => {
  assert.equal(guessTemplate('Qwen3-0.6B'), 'qwen3');
  assert.equal(guessTemplate('Qwen2.5-7B-Instruct'), 'qwen');
  assert.equal(guessTemplate('Meta-Llama-3-8B-Instruct'), 'llama3');
  assert.equal(guessTemplate('Mistral-7B-Instruct-v0.3'), 'mistral');
  assert.equal(guessTemplate('tiny-stories'), null);
});

test('model info, template guess, datasets and a converted, tokenized preview', async () => {
  const model = await call(board, 'GET', '/api/model?path=models/tiny-stories');
  assert.equal(model.status, 200);
  // Tied embeddings (712 x 128), 4 layers of q/k/v/o (GQA: k, v 64 wide), SwiGLU MLP (384) and two norms, final norm.
  const layer = 128 * 128 * 2 + 128 * 64 * 2 + 128 * 384 * 3 + 128 * 2;
  assert.equal(model.body.parameters, 712 * 128 + 4 * layer + 128);
  assert.deepEqual([model.body.family, model.body.dtype, model.body.contextLength], ['llama', 'float32', 512]);
  const notModel = await call(board, 'GET', '/api/model?path=data');
  assert.equal(notModel.status, 400);
  assert.match(notModel.body.error, /config\.json/);

  const datasets = await call(board, 'GET', '/api/datasets?dir=data');
  assert.deepEqual(datasets.body.datasets.map((d: { name: string; kind: string }) => [d.name, d.kind]),
    [['identity', 'sft'], ['story_requests', 'sft'], ['stories', 'pt'], ['about', 'pt']]);
  const preview = await call(board, 'POST', '/api/datasets/preview', { config: quickstartConfig(), dataset: 'identity', rows: 2 });
  assert.equal(preview.status, 200, JSON.stringify(preview.body));
  const first = JSON.parse(readFileSync(join(root, 'data/identity.json'), 'utf8'))[0];
  assert.deepEqual(preview.body.rows[0].turns, [{ role: 'user', content: first.instruction }, { role: 'assistant', content: first.output }]);
  assert.equal(preview.body.template, 'chatml');
  assert.ok(preview.body.rows[0].trainedTokens > 0 && preview.body.rows[0].trainedTokens < preview.body.rows[0].tokens);
  const missing = await call(board, 'POST', '/api/datasets/preview', { config: quickstartConfig(), dataset: 'nope' });
  assert.equal(missing.status, 400);
  assert.match(missing.body.error, /dataset: "nope" is not defined in .*dataset_info\.json \(defined: identity, story_requests, stories, about\)/);
});
