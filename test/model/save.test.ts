import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { f16ToF32, f32ToF16 } from '../../src/model/dtype.js';
import { loadModel } from '../../src/model/load.js';
import { saveModel } from '../../src/model/save.js';
import { readSafetensors, readSafetensorsHeader } from '../../src/model/safetensors.js';
import { bf16ToF32, f32ToBf16 } from '../../src/tensor/tensor.js';
import { modelDir, tempDir } from './helpers.js';

function sameFile(a: string, b: string): boolean {
  return readFileSync(a).equals(readFileSync(b));
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

test('saving what was loaded writes the files transformers wrote', async () => {
  const llama = tempDir();
  saveModel(await loadModel(modelDir('llama-tied')), llama);
  assert.ok(sameFile(join(llama, 'model.safetensors'), join(modelDir('llama-tied'), 'model.safetensors')));
  assert.deepEqual(readJson(join(llama, 'config.json')), readJson(join(modelDir('llama-tied'), 'config.json')));
  assert.equal(readSafetensorsHeader(join(llama, 'model.safetensors')).entries.has('lm_head.weight'), false);

  const qwen2 = tempDir();
  saveModel(await loadModel(modelDir('qwen2-bf16'), { frozenBf16: true }), qwen2, { dtype: 'BF16' });
  assert.ok(sameFile(join(qwen2, 'model.safetensors'), join(modelDir('qwen2-bf16'), 'model.safetensors')));

  const qwen3 = tempDir();
  saveModel(await loadModel(modelDir('qwen3-sharded')), qwen3, { maxShardBytes: 48000 });
  const files = readdirSync(modelDir('qwen3-sharded')).filter((f) => f.includes('safetensors'));
  assert.deepEqual(readdirSync(qwen3).filter((f) => f.includes('safetensors')).sort(), files.sort());
  for (const f of files) assert.ok(sameFile(join(qwen3, f), join(modelDir('qwen3-sharded'), f)), f);
  assert.deepEqual(readJson(join(qwen3, 'generation_config.json')), readJson(join(modelDir('qwen3-sharded'), 'generation_config.json')));
});

test('BF16 and F16 saves round values as torch does and record the dtype', async () => {
  const model = await loadModel(modelDir('mistral'));
  const w = model.namedParameters().get('model.layers.0.self_attn.o_proj.weight')!.data;
  for (const [dtype, torchName, round] of [
    ['BF16', 'bfloat16', (x: Float32Array) => bf16ToF32(f32ToBf16(x))],
    ['F16', 'float16', (x: Float32Array) => f16ToF32(f32ToF16(x))],
  ] as const) {
    const dir = tempDir();
    saveModel(model, dir, { dtype });
    assert.equal((readJson(join(dir, 'config.json')) as { dtype: string }).dtype, torchName); // the file's v5 spelling
    const back = await loadModel(dir);
    assert.deepEqual(back.namedParameters().get('model.layers.0.self_attn.o_proj.weight')!.data, round(w));
    assert.equal(readSafetensors(join(dir, 'model.safetensors'), { names: ['model.norm.weight'] }).get('model.norm.weight')!.dtype, dtype);
  }
});

test('a save in another layout replaces the old weight files', async () => {
  const model = await loadModel(modelDir('mistral'));
  const dir = tempDir();
  saveModel(model, dir, { maxShardBytes: 20000 });
  const shards = readdirSync(dir).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  assert.ok(shards.length > 3, `${shards.length} shards`);
  const each = shards.map((f) => readSafetensorsHeader(join(dir, f)).entries);
  assert.ok(each.every((entries) => entries.size >= 1));
  const reloaded = await loadModel(dir);
  for (const [name, t] of model.namedParameters()) assert.deepEqual(reloaded.namedParameters().get(name)!.data, t.data, name);
  saveModel(model, dir);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'generation_config.json', 'model.safetensors']);
  await loadModel(dir);
});
