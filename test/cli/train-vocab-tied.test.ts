// LoRA with new tokens on a model with tied embeddings (test/fixtures/vocab/tied, made by generate_tied.py): as
// LLaMA-Factory + PEFT 0.21 do it, embed_tokens and lm_head become two modules_to_save copies that train apart; the
// adapter holds both, chat and an unchanged resume load them, and export writes both with tie_word_embeddings false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { loadModel } from '../../src/model/load.js';
import { readSafetensors, readSafetensorsHeader } from '../../src/model/safetensors.js';
import { maxAbsDiff } from '../model/helpers.js';
import { explain, tempDir, train } from '../train/run-helpers.js';
import { runCli } from './run-cli.js';
import { assertResumeMatches, vocabConfig as tiedConfig } from './vocab-config.js';

const TIED = 'test/fixtures/vocab/tied';
const BASE = `${TIED}/model`;
const golden = readSafetensors(`${TIED}/golden.safetensors`);

// The vocabulary run config on the tied model.
function vocabConfig(name: string): { cfg: string; out: string } {
  return tiedConfig(name, { model_name_or_path: BASE });
}

function keys(path: string): string[] {
  return [...readSafetensorsHeader(path).entries.keys()].sort();
}

function exportTo(adapter: string, name: string): string {
  const dir = join(tempDir(name), 'merged');
  const r = runCli(['export', `model_name_or_path=${BASE}`, `adapter_name_or_path=${adapter}`, `export_dir=${dir}`]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

// Logits of an exported folder on a golden prompt, which must tokenize to the ids PEFT used.
async function exportedLogits(dir: string, prompt: string, idsKey: string): Promise<Float32Array> {
  const ids = Int32Array.from(golden.get(idsKey)?.data ?? []);
  assert.deepEqual((await loadTokenizer(dir)).encode(prompt), [...ids]);
  return (await loadModel(dir)).forward(ids, 1, ids.length).data;
}

function untiedExport(dir: string): Map<string, { data: Float32Array }> {
  assert.equal((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { tie_word_embeddings: boolean }).tie_word_embeddings, false);
  const weights = readSafetensors(join(dir, 'model.safetensors'));
  assert.ok(weights.has('lm_head.weight') && weights.has('model.embed_tokens.weight'));
  return weights;
}

const lora = vocabConfig('tied-lora');
const straight = train(lora.cfg);

test('tied model, LoRA + add_tokens: embed_tokens and lm_head train as two copies saved in PEFT layout', async () => {
  const r = await straight;
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /Resized token embeddings from 320 to 384\./);
  const config = JSON.parse(readFileSync(join(lora.out, 'adapter_config.json'), 'utf8')) as { modules_to_save: string[] };
  assert.deepEqual(config.modules_to_save, ['embed_tokens', 'lm_head']);
  const adapterFile = join(lora.out, 'adapter_model.safetensors');
  assert.deepEqual(keys(adapterFile), keys(`${TIED}/adapter/adapter_model.safetensors`));
  const adapter = readSafetensors(adapterFile);
  const embed = adapter.get('base_model.model.model.embed_tokens.weight')!;
  const head = adapter.get('base_model.model.lm_head.weight')!;
  assert.deepEqual([embed.shape, head.shape], [[384, 16], [384, 16]]);
  assert.ok(maxAbsDiff(embed.data, head.data) > 0, 'the two copies were trained as one tensor');
});

test('tied model: chat loads both copies; export writes both untied, the head being the trained one', async () => {
  assert.equal((await straight).code, 0);
  const chat = runCli(['chat', `model_name_or_path=${BASE}`, `adapter_name_or_path=${lora.out}`, 'template=chatml',
    'max_new_tokens=4', '--prompt', 'Tag animal 3']);
  assert.equal(chat.code, 0, chat.stderr);
  const merged = untiedExport(exportTo(lora.out, 'tied-export'));
  const adapter = readSafetensors(join(lora.out, 'adapter_model.safetensors'));
  assert.deepEqual(merged.get('lm_head.weight')?.data, adapter.get('base_model.model.lm_head.weight')?.data);
  assert.deepEqual(merged.get('model.embed_tokens.weight')?.data, adapter.get('base_model.model.model.embed_tokens.weight')?.data);
});

test('tied model: an unchanged resume of the LoRA run continues bit for bit', async () => {
  assert.equal((await straight).code, 0);
  const { cfg, out } = vocabConfig('tied-resume');
  await assertResumeMatches(cfg, out, lora.out);
});

test('tied model: the adapter PEFT saved (both copies) exports to the logits PEFT and transformers compute', async () => {
  const dir = exportTo(`${TIED}/adapter`, 'tied-peft');
  untiedExport(dir);
  const logits = await exportedLogits(dir, '<animal>zebra cat</animal>', 'prompt_ids');
  assert.equal(logits.length, 4 * 384);
  assert.ok(maxAbsDiff(logits, golden.get('logits')!.data) < 1e-4);
  assert.ok(maxAbsDiff(logits, golden.get('merged_logits')!.data) < 1e-4);
});

test('tied model: an adapter LLaMA-Factory saved (embed_tokens alone, PEFT\'s embedding-layer layout) exports to PEFT\'s logits', async () => {
  const adapterDir = `${TIED}/embed-only`;
  const stored = readSafetensors(`${adapterDir}/adapter_model.safetensors`);
  assert.ok(stored.has('base_model.model.model.embed_tokens.original_module.weight'));
  const dir = exportTo(adapterDir, 'tied-embed-only');
  const weights = untiedExport(dir);
  // The LM head keeps the original grown weight, which the adapter carries under the head's own name.
  assert.deepEqual(weights.get('lm_head.weight')?.data, stored.get('base_model.model.lm_head.weight')?.data);
  assert.deepEqual(weights.get('model.embed_tokens.weight')?.data, stored.get('base_model.model.model.embed_tokens.weight')?.data);
  const logits = await exportedLogits(dir, '<animal>zebra cat</animal>', 'embed_only_prompt_ids');
  assert.ok(maxAbsDiff(logits, golden.get('embed_only_logits')!.data) < 1e-4);
  assert.ok(maxAbsDiff(logits, golden.get('embed_only_merged_logits')!.data) < 1e-4);
});

test('tied model, LoRA + add_tokens with additional_target embed_tokens: the frozen grown head is saved as PEFT saves it', async () => {
  const { cfg, out } = vocabConfig('tied-embed-target');
  const r = await train(cfg, ['additional_target=embed_tokens', 'seed=7']);
  assert.equal(r.code, 0, explain(r));
  const adapter = readSafetensors(join(out, 'adapter_model.safetensors'));
  assert.deepEqual(adapter.get('base_model.model.model.embed_tokens.weight')?.shape, [384, 16]);
  const head = adapter.get('base_model.model.lm_head.weight');
  assert.deepEqual(head?.shape, [384, 16]);

  // A freeze run of the last layer keeps the tied embedding at training's growth: the head the adapter saved.
  const { cfg: freezeCfg, out: freezeOut } = vocabConfig('tied-embed-target-freeze');
  const freeze = await train(freezeCfg, ['finetuning_type=freeze', 'freeze_trainable_layers=1', 'max_steps=1', 'seed=7']);
  assert.equal(freeze.code, 0, explain(freeze));
  const grown = readSafetensors(join(freezeOut, 'model.safetensors')).get('model.embed_tokens.weight');
  assert.deepEqual(head?.data, grown?.data);
  const merged = untiedExport(exportTo(out, 'tied-embed-target-export'));
  assert.deepEqual(merged.get('lm_head.weight')?.data, grown?.data);
});

test('tied model: an adapter with ensure_weight_tying (one tied copy in PEFT) exports; training it further is refused', async () => {
  const adapter = join(tempDir('tied-ensure'), 'adapter');
  cpSync(`${TIED}/adapter`, adapter, { recursive: true });
  const configPath = join(adapter, 'adapter_config.json');
  writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')) as object, ensure_weight_tying: true }));
  untiedExport(exportTo(adapter, 'tied-ensure-export'));

  const { cfg } = vocabConfig('tied-ensure-train');
  const refused = await train(cfg, [`adapter_name_or_path=${adapter}`, 'max_steps=1']);
  assert.equal(refused.code, 2, explain(refused));
  assert.match(refused.stderr, /ensure_weight_tying is true, .* Set create_new_adapter: true/);
  const merged = await train(cfg, [`adapter_name_or_path=${adapter}`, 'create_new_adapter=true', 'max_steps=1']);
  assert.equal(merged.code, 0, explain(merged));
});
