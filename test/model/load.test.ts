import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { RetuneError, UsageError } from '../../src/util/errors.js';
import { loadModel } from '../../src/model/load.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { f32ToBf16 } from '../../src/tensor/tensor.js';
import { copyModel, editJson, Golden, maxAbsDiff, modelDir, tempDir } from './helpers.js';

test('bf16 weights load to the float32 values torch computes with', async () => {
  const golden = new Golden('qwen2-bf16');
  const model = await loadModel(modelDir('qwen2-bf16'));
  const params = model.namedParameters();
  assert.equal(params.size, [...golden.tensors.keys()].filter((k) => k.startsWith('param.')).length);
  for (const [name, t] of params) assert.deepEqual(t.data, golden.get(`param.${name}`), name);
});

test('frozenBf16 keeps bf16 bits; its bf16 products keep the logits within bf16 rounding', async () => {
  setBackend('reference');
  const golden = new Golden('qwen2-bf16');
  const frozen = await loadModel(modelDir('qwen2-bf16'), { frozenBf16: true });
  for (const [name, t] of frozen.namedParameters()) {
    assert.ok(t.bf16 !== null && t.data.length === 0, name);
    assert.deepEqual(t.bf16, f32ToBf16(golden.get(`param.${name}`)), name);
  }
  const ids = golden.ints('input_ids');
  const logits = noGrad(() => frozen.forward(ids, 2, 9)).data;
  // The golden ran in float32; frozen bf16 weights also mean bf16 products (activations rounded to 8 mantissa bits),
  // which move these logits by 0.6 % of their largest magnitude. Bound: 2 %.
  const want = golden.get('logits');
  assert.ok(maxAbsDiff(logits, want) <= 0.02 * Math.max(...want.map(Math.abs)));
  const fromF32 = await loadModel(modelDir('mistral'), { frozenBf16: true });
  const f32 = await loadModel(modelDir('mistral'));
  const w = 'model.layers.1.mlp.down_proj.weight';
  assert.deepEqual(fromF32.namedParameters().get(w)!.bf16, f32ToBf16(f32.namedParameters().get(w)!.data));
});

test('tied embeddings share one tensor; the sharded model reads every shard', async () => {
  const llama = await loadModel(modelDir('llama-tied'));
  assert.equal(llama.lmHead.weight, llama.embedTokens.weight);
  assert.equal(llama.namedParameters().has('lm_head.weight'), false);
  const qwen3 = await loadModel(modelDir('qwen3-sharded'));
  const golden = new Golden('qwen3-sharded');
  const names = [...golden.tensors.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5));
  assert.deepEqual([...qwen3.namedParameters().keys()].sort(), names.sort());
  assert.equal(qwen3.generationConfig?.transformers_version, '5.18.0');
});

// Rewrites a fixture's single weight file through `edit`.
function editWeights(dir: string, edit: (tensors: Map<string, TensorToWrite>) => void): string {
  const path = join(dir, 'model.safetensors');
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of readSafetensors(path)) tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
  edit(tensors);
  writeSafetensors(path, tensors);
  return path;
}

test('weights that disagree with config.json name the file and tensor', async () => {
  const missing = copyModel('mistral');
  const file = editWeights(missing, (t) => t.delete('model.layers.1.mlp.up_proj.weight'));
  await assert.rejects(loadModel(missing), (e: unknown) =>
    e instanceof RetuneError && e.message === `${file}: tensor "model.layers.1.mlp.up_proj.weight" is missing (config.json needs it)`);

  const extra = copyModel('mistral');
  editWeights(extra, (t) => t.set('model.layers.2.mlp.up_proj.weight', { dtype: 'F32', shape: [1], data: Float32Array.of(0) }));
  await assert.rejects(loadModel(extra), /tensor "model.layers.2.mlp.up_proj.weight" not used by a mistral model/);

  const shape = copyModel('mistral');
  editJson(join(shape, 'config.json'), (c) => {
    c.intermediate_size = 48;
  });
  await assert.rejects(loadModel(shape), /tensor "model.layers.0.mlp.gate_proj.weight" has shape \[64, 32\] but config.json implies \[48, 32\]/);

  const ignored = copyModel('mistral');
  editWeights(ignored, (t) => t.set('model.layers.0.self_attn.rotary_emb.inv_freq', { dtype: 'F32', shape: [4], data: new Float32Array(4) }));
  await loadModel(ignored);
});

test('broken shard indexes and missing weight files are named', async () => {
  const dir = copyModel('qwen3-sharded');
  renameSync(join(dir, 'model-00003-of-00004.safetensors'), join(dir, 'moved.safetensors'));
  await assert.rejects(loadModel(dir), /model.safetensors.index.json: shard model-00003-of-00004.safetensors \(holding "[^"]+"\) does not exist/);

  const wrongShard = copyModel('qwen3-sharded');
  editJson(join(wrongShard, 'model.safetensors.index.json'), (j) => {
    (j.weight_map as Record<string, string>)['model.norm.weight'] = 'model-00001-of-00004.safetensors';
  });
  await assert.rejects(loadModel(wrongShard), /model-00001-of-00004.safetensors: tensor "model.norm.weight" is missing/);

  const escape = copyModel('qwen3-sharded');
  editJson(join(escape, 'model.safetensors.index.json'), (j) => {
    (j.weight_map as Record<string, string>)['model.norm.weight'] = '../elsewhere.safetensors';
  });
  await assert.rejects(loadModel(escape), /weight_map\["model.norm.weight"\] must be a file name in the same folder/);

  const none = copyModel('mistral');
  rmSync(join(none, 'model.safetensors'));
  writeFileSync(join(none, 'pytorch_model.bin'), '');
  const noWeights = /no model.safetensors or model.safetensors.index.json \(pytorch_model.bin is a pickle/;
  await assert.rejects(loadModel(none), (e: unknown) => e instanceof UsageError && noWeights.test(e.message));
  await assert.rejects(loadModel(tempDir()), /config.json: cannot read the model config/);
});
