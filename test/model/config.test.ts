import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { parseModelConfig, readModelConfig } from '../../src/model/config.js';
import { loadModel } from '../../src/model/load.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { copyModel, editJson, modelDir, tempDir } from './helpers.js';

const BASE = {
  model_type: 'llama', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
  vocab_size: 128,
};

test('reads the fixture configs, legacy and transformers v5 RoPE spellings alike', () => {
  const llama = readModelConfig(modelDir('llama-tied'));
  assert.equal(llama.rope_theta, 500000);
  assert.deepEqual(llama.rope_scaling, { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 });
  assert.equal(llama.tie_word_embeddings, true);
  assert.equal(llama.num_key_value_heads, 2);
  const qwen3 = readModelConfig(modelDir('qwen3-sharded'));
  assert.equal(qwen3.rope_theta, 1000000);
  assert.equal(qwen3.rope_scaling, null);
  assert.equal(qwen3.head_dim, 16);
  assert.equal(qwen3.qk_norm, true);
  assert.equal(qwen3.sliding_window, null);
  const qwen2 = readModelConfig(modelDir('qwen2-bf16'));
  assert.deepEqual([qwen2.qkv_bias, qwen2.o_bias], [true, false]);
  assert.equal(readModelConfig(modelDir('mistral')).sliding_window, 4096);
});

test('defaults follow transformers', () => {
  const c = parseModelConfig(BASE, 'config.json');
  assert.equal(c.head_dim, 8);
  assert.equal(c.num_key_value_heads, 4);
  assert.equal(c.rope_theta, 10000);
  assert.equal(c.tie_word_embeddings, false);
  assert.equal(c.rms_norm_eps, 1e-6);
  assert.deepEqual(c.eos_token_id, []);
  assert.deepEqual(parseModelConfig({ ...BASE, eos_token_id: [2, 7] }, 'x').eos_token_id, [2, 7]);
  const linear = parseModelConfig({ ...BASE, rope_scaling: { type: 'linear', factor: 2 } }, 'x');
  assert.deepEqual(linear.rope_scaling, { type: 'linear', factor: 2, rope_type: 'linear' });
});

test('configs Retune would compute differently are refused, naming file and field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ model_type: 'gemma' }, /cfg.json: model_type "gemma" is not supported/],
    [{ hidden_act: 'gelu' }, /cfg.json: hidden_act "gelu" is not supported/],
    [{ rope_scaling: { rope_type: 'yarn', factor: 4 } }, /cfg.json: rope_scaling.rope_type 'yarn' is not supported/],
    [{ rope_parameters: { rope_type: 'dynamic', rope_theta: 10000, factor: 2 } }, /rope_parameters.rope_type 'dynamic'/],
    [{ rope_scaling: { rope_type: 'llama3', factor: 8 } }, /original_max_position_embeddings must be an integer/],
    [{ num_key_value_heads: 3 }, /num_key_value_heads \(3\) must divide num_attention_heads \(4\)/],
    [{ hidden_size: undefined }, /cfg.json: hidden_size is missing/],
    [{ vocab_size: -1 }, /vocab_size must be a positive integer, got -1/],
    [{ head_dim: 7 }, /head_dim must be even/],
    [{ tie_word_embeddings: 'yes' }, /tie_word_embeddings must be true or false/],
  ];
  for (const [edit, pattern] of cases) {
    const matches = (e: unknown): boolean => e instanceof UsageError && pattern.test(e.message);
    assert.throws(() => parseModelConfig({ ...BASE, ...edit }, 'cfg.json'), matches, pattern.source);
  }
  const dir = tempDir();
  writeFileSync(join(dir, 'config.json'), '{"model_type": ');
  assert.throws(() => readModelConfig(dir), new RegExp(`${join(dir, 'config.json')}: not valid JSON`));
  assert.throws(() => readModelConfig(join(dir, 'absent')), /cannot read the model config \(ENOENT\)/);
});

test('sliding window: Mistral in every layer, Qwen2/Qwen3 per layer_types or from max_window_layers on', () => {
  const base = { ...BASE, num_hidden_layers: 4, sliding_window: 16 };
  const mistral = parseModelConfig({ ...base, model_type: 'mistral' }, 'c');
  assert.deepEqual([mistral.sliding_window, mistral.sliding_layers], [16, [true, true, true, true]]);
  const off = parseModelConfig({ ...base, model_type: 'qwen2' }, 'c'); // no use_sliding_window
  assert.deepEqual([off.sliding_window, off.sliding_layers], [null, [false, false, false, false]]);
  const below = parseModelConfig({ ...base, model_type: 'qwen2', use_sliding_window: true }, 'c'); // 28 > 4 layers
  assert.deepEqual([below.sliding_window, below.sliding_layers], [null, [false, false, false, false]]);
  const from2 = parseModelConfig({ ...base, model_type: 'qwen3', use_sliding_window: true, max_window_layers: 2 }, 'c');
  assert.deepEqual([from2.sliding_window, from2.sliding_layers], [16, [false, false, true, true]]);
  const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
  const typed = parseModelConfig({ ...base, model_type: 'qwen2', use_sliding_window: true, max_window_layers: 0, layer_types: types }, 'c');
  assert.deepEqual(typed.sliding_layers, [true, false, true, false]);
  assert.throws(() => parseModelConfig({ ...base, model_type: 'qwen2', use_sliding_window: true, layer_types: ['full_attention'] }, 'c'),
    /c: layer_types must list 'sliding_attention' or 'full_attention' for each of the 4 layers/);
  assert.throws(() => parseModelConfig({ ...base, model_type: 'qwen2', use_sliding_window: true, max_window_layers: -1 }, 'c'),
    /c: max_window_layers must be a non-negative integer/);
  assert.equal(parseModelConfig({ ...base, model_type: 'llama' }, 'c').sliding_window, null);
});

test('a sequence longer than an enabled sliding window runs (sliding-window attention)', async () => {
  const dir = copyModel('mistral');
  editJson(join(dir, 'config.json'), (c) => {
    c.sliding_window = 6;
  });
  const model = await loadModel(dir);
  const plain = await loadModel(modelDir('mistral'));
  const ids = Int32Array.from([5, 17, 99, 3, 42, 8, 61, 20]);
  const windowed = noGrad(() => model.forward(ids, 1, 8)).data;
  const full = noGrad(() => plain.forward(ids, 1, 8)).data;
  const V = model.config.vocab_size;
  assert.deepEqual(windowed.subarray(0, 6 * V), full.subarray(0, 6 * V));
  assert.notDeepEqual(windowed.subarray(6 * V), full.subarray(6 * V));
});
