import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../../src/util/errors.js';
import { hasAdapters } from '../../../src/model/adapters/adapter-set.js';
import { loadAdapter, mergeAdapters, saveAdapter } from '../../../src/model/adapters/index.js';
import { loadModel } from '../../../src/model/load.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../../src/model/safetensors.js';
import { BASE, FIXTURES, golden, logits, maxDiff } from './peft-fixture.js';

const scratch = mkdtempSync(join(tmpdir(), 'retune-peft-io-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('the fixture base model matches transformers (sanity of the comparison below)', async () => {
  assert.ok(maxDiff(logits(await loadModel(BASE)), golden.base) < 1e-4);
});

for (const kind of ['lora', 'rslora', 'dora']) {
  test(`a ${kind} adapter written by Python PEFT gives PEFT's logits within 1e-4`, async () => {
    const model = await loadModel(BASE);
    const set = loadAdapter(model, join(FIXTURES, kind));
    assert.ok(maxDiff(golden[kind], golden.base) > 1e-2, 'the adapter must change the output for this test to mean anything');
    assert.ok(maxDiff(logits(model), golden[kind]) < 1e-4);
    assert.ok([...set.trainable().values()].every((t) => !t.requiresGrad), 'loaded for inference: nothing trains');
  });

  test(`merging a ${kind} adapter keeps its logits and removes the adapter layers`, async () => {
    const model = await loadModel(BASE);
    mergeAdapters(loadAdapter(model, join(FIXTURES, kind)));
    assert.equal(hasAdapters(model), false);
    assert.ok(model.layers.every((l) => l.selfAttn.qProj.adapter === null));
    assert.ok(maxDiff(logits(model), golden[kind]) < 1e-4);
  });
}

test('saveAdapter writes PEFT keys, shapes and config; loading it back gives the same logits', async () => {
  for (const kind of ['rslora', 'dora']) {
    const model = await loadModel(BASE);
    const set = loadAdapter(model, join(FIXTURES, kind));
    const out = join(scratch, `saved-${kind}`);
    saveAdapter(set, out, { model_name_or_path: BASE });
    const ours = readSafetensors(join(out, 'adapter_model.safetensors'));
    const theirs = readSafetensors(join(FIXTURES, kind, 'adapter_model.safetensors'));
    assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
    for (const [key, t] of theirs) {
      assert.deepEqual(ours.get(key)!.shape, t.shape, key);
      assert.deepEqual(ours.get(key)!.data, t.data, key);
    }
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    const reference = JSON.parse(readFileSync(join(FIXTURES, kind, 'adapter_config.json'), 'utf8'));
    for (const key of ['peft_type', 'task_type', 'r', 'lora_alpha', 'lora_dropout', 'use_rslora', 'use_dora', 'modules_to_save', 'bias']) {
      assert.deepEqual(config[key], reference[key], key);
    }
    assert.deepEqual([...config.target_modules].sort(), [...reference.target_modules].sort());
    assert.equal(config.base_model_name_or_path, BASE);
    const again = await loadModel(BASE);
    loadAdapter(again, out);
    assert.ok(maxDiff(logits(again), golden[kind]) < 1e-4);
  }
});

// A copy of a fixture adapter with its config or tensors edited.
function variant(kind: string, name: string, edit: { config?: (c: Record<string, unknown>) => void; tensors?: (t: Map<string, TensorToWrite>) => void }): string {
  const dir = join(scratch, name);
  cpSync(join(FIXTURES, kind), dir, { recursive: true });
  if (edit.config) {
    const path = join(dir, 'adapter_config.json');
    const config = JSON.parse(readFileSync(path, 'utf8'));
    edit.config(config);
    writeFileSync(path, JSON.stringify(config));
  }
  if (edit.tensors) {
    const path = join(dir, 'adapter_model.safetensors');
    const tensors = new Map<string, TensorToWrite>(
      [...readSafetensors(path)].map(([k, t]) => [k, { dtype: 'F32', shape: t.shape, data: t.data }]),
    );
    edit.tensors(tensors);
    writeSafetensors(path, tensors);
  }
  return dir;
}

test('target_modules may be a regex string, matched against the full module name as PEFT does', async () => {
  const model = await loadModel(BASE);
  const dir = variant('rslora', 'regex', { config: (c) => { c.target_modules = 'model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj'; } });
  const set = loadAdapter(model, dir);
  assert.equal(set.layers.size, 4);
  assert.ok(maxDiff(logits(model), golden.rslora) < 1e-4);
});

async function rejects(dir: string, pattern: RegExp): Promise<void> {
  const model = await loadModel(BASE);
  const before = [...model.namedParameters()].map(([name, t]) => [name, t.data.slice()] as const);
  assert.throws(() => loadAdapter(model, dir), (error: Error) => error instanceof UsageError && pattern.test(error.message));
  assert.equal(hasAdapters(model), false, 'a rejected adapter leaves the model untouched');
  for (const [name, data] of before) assert.deepEqual(model.namedParameters().get(name)!.data, data, name);
}

test('bad adapters fail with the file and the tensor or key, and leave the model untouched', async () => {
  const key = 'base_model.model.model.layers.1.mlp.up_proj.lora_B.weight';
  await rejects(variant('lora', 'missing', { tensors: (t) => t.delete(key) }), /adapter_model\.safetensors: tensor ".*layers\.1\.mlp\.up_proj\.lora_B\.weight" is missing/);
  await rejects(variant('lora', 'rank', { config: (c) => { c.r = 8; } }), /lora_A\.weight" has shape \[4, 32\] but the model needs \[8, 32\]/);
  await rejects(variant('lora', 'extra', { tensors: (t) => t.set('base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector', { dtype: 'F32', shape: [64], data: new Float32Array(64) }) }),
    /tensor ".*up_proj\.lora_magnitude_vector" belongs to no module/);
  await rejects(variant('lora', 'target', { config: (c) => { c.target_modules = ['q_proj', 'qkv_proj']; } }), /adapter_config\.json: LoRA target "qkv_proj" matches no Linear/);
  await rejects(variant('lora', 'type', { config: (c) => { c.peft_type = 'IA3'; } }), /"peft_type" is "IA3"; only LORA/);
  await rejects(variant('lora', 'pattern', { config: (c) => { c.rank_pattern = { q_proj: 2 }; } }), /"rank_pattern" is set/);
  await rejects(variant('rslora', 'saved-extra', { tensors: (t) => t.set('base_model.model.model.norm.weight', { dtype: 'F32', shape: [32], data: new Float32Array(32) }) }),
    /tensor "base_model\.model\.model\.norm\.weight" belongs to no module/);
  await rejects(join(scratch, 'nowhere'), /not a LoRA adapter folder/);
  const model = await loadModel(BASE);
  loadAdapter(model, join(FIXTURES, 'lora'));
  assert.throws(() => loadAdapter(model, join(FIXTURES, 'rslora')), /already carries a LoRA adapter; merge it/);
  assert.ok(maxDiff(logits(model), golden.lora) < 1e-4, 'the first adapter stays as it was');
});
