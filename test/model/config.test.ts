import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../src/config/errors.js';
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

test('a sequence longer than an enabled sliding window is refused', async () => {
  const dir = copyModel('mistral');
  editJson(join(dir, 'config.json'), (c) => {
    c.sliding_window = 6;
  });
  const model = await loadModel(dir);
  assert.doesNotThrow(() => noGrad(() => model.forward(new Int32Array(6), 1, 6)));
  assert.throws(() => noGrad(() => model.forward(new Int32Array(7), 1, 7)), /7 tokens is longer than sliding_window 6/);
});
