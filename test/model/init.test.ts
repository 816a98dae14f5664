import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initModel } from '../../src/model/init.js';
import { loadModel, readModelConfig } from '../../src/model/index.js';
import { MODELS, modelDir } from './helpers.js';

test('initModel builds the same tensors, by name and shape, as loading each fixture family', async () => {
  const shapes = (params: Map<string, { shape: number[] }>) => new Map([...params].map(([k, t]) => [k, t.shape]));
  for (const name of MODELS) {
    const loaded = await loadModel(modelDir(name));
    assert.deepEqual(shapes(initModel(loaded.config, 1).namedParameters()), shapes(loaded.namedParameters()), name);
  }
});

test('initModel draws N(0, initializer_range) weights, unit norms, and is a function of the seed', () => {
  const config = readModelConfig(modelDir('qwen2-bf16'));
  const a = initModel(config, 7).namedParameters();
  const b = initModel(config, 7).namedParameters();
  const c = initModel(config, 8).namedParameters();
  const embed = a.get('model.embed_tokens.weight')!.data;
  const mean = embed.reduce((s, x) => s + x, 0) / embed.length;
  const std = Math.sqrt(embed.reduce((s, x) => s + (x - mean) ** 2, 0) / embed.length);
  const range = typeof config.raw.initializer_range === 'number' ? config.raw.initializer_range : 0.02;
  assert.ok(Math.abs(mean) < 0.1 * range, `mean ${mean}`);
  assert.ok(Math.abs(std / range - 1) < 0.05, `std ${std} vs ${range}`);
  assert.ok(a.get('model.norm.weight')!.data.every((x) => x === 1));
  assert.ok(a.get('model.layers.0.self_attn.q_proj.bias')!.data.every((x) => x === 0));
  assert.deepEqual(a.get('model.layers.1.mlp.up_proj.weight')!.data, b.get('model.layers.1.mlp.up_proj.weight')!.data);
  assert.notDeepEqual(a.get('model.layers.1.mlp.up_proj.weight')!.data, c.get('model.layers.1.mlp.up_proj.weight')!.data);
});
