import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { RetuneError } from '../../src/util/errors.js';
import type { CausalLM } from '../../src/model/causal-lm.js';
import { KVCache } from '../../src/model/kv-cache.js';
import { loadModel } from '../../src/model/load.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { maxAbsDiff, modelDir } from './helpers.js';

function newCache(model: CausalLM, B: number): KVCache {
  const c = model.config;
  return new KVCache({ nLayers: c.num_hidden_layers, B, nKV: c.num_key_value_heads, hd: c.head_dim });
}

// Rows t0..t1 of every sequence of ids (B, T).
function columns(ids: Int32Array, B: number, T: number, t0: number, t1: number): Int32Array {
  const out = new Int32Array(B * (t1 - t0));
  for (let b = 0; b < B; b++) out.set(ids.subarray(b * T + t0, b * T + t1), b * (t1 - t0));
  return out;
}

for (const [name, B] of [['qwen2-bf16', 1], ['qwen3-sharded', 2], ['llama-tied', 3]] as const) {
  test(`${name}: logits with a KV cache equal a full recompute (B=${B})`, async () => {
    setBackend('reference');
    const model = await loadModel(modelDir(name));
    const V = model.config.vocab_size;
    const T = 20;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % V);
    const full = noGrad(() => model.forward(ids, B, T)).data; // (B, T, V)
    const cache = newCache(model, B);
    // A 4-token prefill, single steps and chunks, past the first 16-token buffer: every cache path.
    for (const [t0, t1] of [[0, 4], [4, 5], [5, 6], [6, 15], [15, 16], [16, 17], [17, 20]]) {
      const step = noGrad(() => model.forward(columns(ids, B, T, t0, t1), B, t1 - t0, { cache })).data;
      const expected = new Float32Array(B * (t1 - t0) * V);
      for (let b = 0; b < B; b++) expected.set(full.subarray((b * T + t0) * V, (b * T + t1) * V), b * (t1 - t0) * V);
      assert.ok(maxAbsDiff(step, expected) <= 1e-4, `tokens ${t0}..${t1}: differ by ${maxAbsDiff(step, expected)}`);
      assert.equal(cache.length, t1);
    }
  });
}

test('last-position logits equal the last row of the full logits', async () => {
  setBackend('reference');
  const model = await loadModel(modelDir('mistral'));
  const V = model.config.vocab_size;
  const ids = Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  const full = noGrad(() => model.forward(ids, 2, 4)).data;
  const last = noGrad(() => model.forward(ids, 2, 4, { lastLogits: true }));
  assert.deepEqual(last.shape, [2, 1, V]);
  assert.deepEqual(last.data, Float32Array.from([...full.subarray(3 * V, 4 * V), ...full.subarray(7 * V, 8 * V)]));
});

test('a cache of another batch size or combined with segments is refused', async () => {
  setBackend('reference');
  const model = await loadModel(modelDir('mistral'));
  const cache = newCache(model, 2);
  assert.throws(() => noGrad(() => model.forward(Int32Array.of(1, 2), 1, 2, { cache })), RetuneError);
  const segments = Int32Array.of(0, 0);
  assert.throws(() => noGrad(() => model.forward(Int32Array.of(1, 2), 2, 1, { cache, segments })), /segments cannot be combined/);
});
