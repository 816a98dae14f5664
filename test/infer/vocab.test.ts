// The vocabulary keys on chat, api, predict and export with a plain base model (src/infer/vocab.ts): the tokens are
// added and the model grows exactly as training grows it (checked against a freeze run, whose embedding and head
// stay frozen at training's growth); an adapter whose saved tokenizer has the tokens makes them a no-op, one that
// lacks them is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { serveApi } from '../cli/serve-api.js';
import { runCli } from '../cli/run-cli.js';
import { explain, FIXTURE, tempDir, train, writeConfig } from '../train/run-helpers.js';

const BASE = `${FIXTURE}/model`;
const PROMPT = 'Tag <animal>zebra</animal>';
const KEYS = ['add_tokens=zebra', 'add_special_tokens=<animal>,</animal>', 'seed=7', 'init_special_tokens=noise_init'];
const CHAT = ['template=chatml', 'max_new_tokens=6', 'do_sample=false'];

function exportWith(name: string, keys: string[]): { dir: string; stdout: string } {
  const dir = join(tempDir(name), 'merged');
  const r = runCli(['export', `model_name_or_path=${BASE}`, `export_dir=${dir}`, 'template=chatml', ...keys]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, stdout: r.stdout };
}

function chat(model: string, extra: string[]): string {
  const r = runCli(['chat', `model_name_or_path=${model}`, ...CHAT, ...extra, '--prompt', PROMPT]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

const exported = exportWith('infer-vocab-export', KEYS);

test('export with add_tokens on a base model writes the tokenizer and rows a training run grows', async () => {
  assert.match(exported.stdout, /Resized token embeddings from 320 to 384\./);
  const tokenizer = await loadTokenizer(exported.dir);
  assert.deepEqual(tokenizer.encode('<animal>zebra</animal>', { addSpecialTokens: false }), [321, 320, 322]);

  // A freeze run of one step trains only the last layer: its embedding and LM head are training's growth, untouched.
  const dir = tempDir('infer-vocab-freeze');
  const cfg = writeConfig(dir, { finetuning_type: 'freeze', freeze_trainable_layers: 1, max_steps: 1 });
  const run = await train(cfg, KEYS);
  assert.equal(run.code, 0, explain(run));
  const trained = readSafetensors(join(dir, 'out', 'model.safetensors'));
  const ours = readSafetensors(join(exported.dir, 'model.safetensors'));
  for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
    assert.deepEqual(ours.get(name)?.shape, [384, 16]);
    assert.deepEqual(ours.get(name)?.data, trained.get(name)?.data, name);
  }
  const otherSeed = readSafetensors(join(exportWith('infer-vocab-seed', [...KEYS, 'seed=8']).dir, 'model.safetensors'));
  assert.notDeepEqual(otherSeed.get('lm_head.weight')?.data, ours.get('lm_head.weight')?.data);
});

test('chat, api and predict with add_tokens on a base model answer as the exported grown model does', async () => {
  const reply = chat(BASE, KEYS);
  assert.equal(reply, chat(exported.dir, []));

  const api = await serveApi([`model_name_or_path=${BASE}`, 'template=chatml', ...KEYS], { env: { API_MODEL_NAME: 'grown' } });
  try {
    const r = await api.client.chat.completions.create({
      model: 'grown', messages: [{ role: 'user', content: PROMPT }], temperature: 0, max_tokens: 6,
    });
    assert.equal(r.choices[0].message.content, reply.trim());
  } finally {
    await api.stop();
  }

  const data = join(tempDir('infer-vocab-predict'), 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'dataset_info.json'), JSON.stringify({ tagged: { file_name: 'tagged.json' } }));
  writeFileSync(join(data, 'tagged.json'), JSON.stringify([{ instruction: PROMPT, input: '', output: '<animal>lion</animal>' }]));
  const predict = (model: string, keys: string[]): string => {
    const out = join(data, '..', `out-${keys.length}`);
    const r = runCli(['train', `model_name_or_path=${model}`, 'do_train=false', 'do_predict=true', 'predict_with_generate=true',
      `dataset_dir=${data}`, 'eval_dataset=tagged', `output_dir=${out}`, ...CHAT, ...keys]);
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(join(out, 'generated_predictions.jsonl'), 'utf8');
  };
  const predicted = predict(BASE, KEYS);
  assert.equal(predicted, predict(exported.dir, []));
  // The label is decoded without special tokens, so the added <animal> tags drop out of it.
  assert.match(predicted, /"label":"lion\\n"/);
});

test('an adapter whose saved tokenizer has the tokens makes the keys a no-op; one that lacks a token is refused', () => {
  const adapter = 'test/fixtures/vocab/adapter';
  const withAdapter = [`adapter_name_or_path=${adapter}`];
  assert.equal(chat(BASE, [...withAdapter, 'add_tokens=zebra']), chat(BASE, withAdapter));
  const r = runCli(['chat', `model_name_or_path=${BASE}`, ...CHAT, ...withAdapter, 'add_special_tokens=<animal>,<lion>', '--prompt', PROMPT]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /add_special_tokens: "<lion>" is not in the tokenizer the adapter test\/fixtures\/vocab\/adapter saved/);
  const exportDir = join(tempDir('infer-vocab-refused'), 'merged');
  const refused = runCli(['export', `model_name_or_path=${BASE}`, ...withAdapter, `export_dir=${exportDir}`, 'add_tokens=lion']);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /add_tokens: "lion" is not in the tokenizer the adapter/);
});
