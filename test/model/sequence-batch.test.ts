import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { KVCache } from '../../src/model/kv-cache.js';
import { loadModel } from '../../src/model/load.js';
import { SequenceBatch } from '../../src/model/sequence-batch.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { RetuneError } from '../../src/util/errors.js';
import { BACKENDS, maxAbsDiff, modelDir } from './helpers.js';

// mistral-swa has a sliding window of 4, so the longer prompts also exercise the per-sequence window.
for (const backend of BACKENDS) {
  for (const name of ['qwen3-sharded', 'mistral-swa'] as const) {
    test(`${name} (${backend.name}): a batched step over sequences of different lengths equals each one alone`, { skip: backend.skip }, async () => {
      setBackend(backend.name);
      const model = await loadModel(modelDir(name));
      const { vocab_size: V, num_hidden_layers: nLayers, num_key_value_heads: nKV, head_dim: hd } = model.config;
      const prompts = [[5, 17, 99], [3, 42, 7, 8, 120, 64, 9], [11]];
      const newCache = (): KVCache => new KVCache({ nLayers, B: 1, nKV, hd });
      const alone = prompts.map(() => newCache());
      const batched = prompts.map(() => newCache());
      noGrad(() => prompts.forEach((p, b) => {
        for (const cache of [alone[b], batched[b]]) model.forward(Int32Array.from(p), 1, p.length, { cache, lastLogits: true });
      }));
      for (let step = 0; step < 3; step++) {
        const next = Int32Array.from(prompts, (p, b) => (p[0] * 13 + step * 7 + b) % V);
        const expected = noGrad(() => prompts.map((_, b) => model.forward(next.subarray(b, b + 1), 1, 1, { cache: alone[b], lastLogits: true }).data));
        const got = noGrad(() => model.forward(next, prompts.length, 1, { cache: new SequenceBatch(batched), lastLogits: true })); // (B, 1, V)
        assert.deepEqual(got.shape, [prompts.length, 1, V]);
        for (let b = 0; b < prompts.length; b++) {
          const diff = maxAbsDiff(got.data.subarray(b * V, (b + 1) * V), expected[b]);
          assert.ok(diff <= 1e-4, `step ${step}, sequence ${b}: logits differ by ${diff}`);
          assert.equal(batched[b].length, alone[b].length);
        }
      }
    });
  }
}

for (const backend of BACKENDS) {
  for (const name of ['qwen3-sharded', 'mistral-swa', 'qwen2-bf16'] as const) {
    test(`${name} (${backend.name}): prompts of different lengths packed into one forward equal each one alone`, { skip: backend.skip }, async () => {
      setBackend(backend.name);
      const model = await loadModel(modelDir(name), { frozenBf16: name === 'qwen2-bf16' });
      const { vocab_size: V, num_hidden_layers: nLayers, num_key_value_heads: nKV, head_dim: hd } = model.config;
      const prompts = [[5, 17, 99], [3, 42, 7, 8, 120, 64, 9], [11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]];
      const newCache = (): KVCache => new KVCache({ nLayers, B: 1, nKV, hd });
      const alone = prompts.map(() => newCache());
      const packed = prompts.map(() => newCache());
      const expected = noGrad(() => prompts.map((p, b) => model.forward(Int32Array.from(p), 1, p.length, { cache: alone[b], lastLogits: true }).data));
      const batch = new SequenceBatch(packed, prompts.map((p) => p.length));
      const ids = Int32Array.from(prompts.flat());
      assert.equal(batch.B, 1);
      assert.deepEqual([...batch.lastRows()], [2, 9, 10, 20]);
      const got = noGrad(() => model.forward(ids, 1, ids.length, { cache: batch, rows: batch.lastRows() })); // (4, 1, V)
      assert.deepEqual(got.shape, [prompts.length, 1, V]);
      for (let b = 0; b < prompts.length; b++) {
        const diff = maxAbsDiff(got.data.subarray(b * V, (b + 1) * V), expected[b]);
        assert.ok(diff <= 1e-4, `sequence ${b}: logits differ by ${diff}`);
        assert.equal(packed[b].length, prompts[b].length);
      }
      // The caches filled by the packed prefill decode on exactly as the ones filled alone.
      const next = Int32Array.from(prompts, (_, b) => 30 + b);
      const stepAlone = noGrad(() => prompts.map((_, b) => model.forward(next.subarray(b, b + 1), 1, 1, { cache: alone[b], lastLogits: true }).data));
      const step = noGrad(() => model.forward(next, prompts.length, 1, { cache: new SequenceBatch(packed), lastLogits: true }));
      for (let b = 0; b < prompts.length; b++) assert.ok(maxAbsDiff(step.data.subarray(b * V, (b + 1) * V), stepAlone[b]) <= 1e-4);
    });
  }
}

test('SequenceBatch refuses token counts the forward does not match and caches of batch > 1', async () => {
  const model = await loadModel(modelDir('llama-tied'));
  const { num_hidden_layers: nLayers, num_key_value_heads: nKV, head_dim: hd } = model.config;
  const batch = new SequenceBatch([new KVCache({ nLayers, B: 1, nKV, hd })]);
  assert.throws(() => noGrad(() => model.forward(Int32Array.of(1, 2), 1, 2, { cache: batch })), RetuneError);
  assert.throws(() => new SequenceBatch([new KVCache({ nLayers, B: 2, nKV, hd })]), /batch 1/);
  assert.throws(() => new SequenceBatch([new KVCache({ nLayers, B: 1, nKV, hd })], [0]), /at least one token/);
  const two = new SequenceBatch([new KVCache({ nLayers, B: 1, nKV, hd }), new KVCache({ nLayers, B: 1, nKV, hd })], [2, 3]);
  assert.throws(() => noGrad(() => model.forward(Int32Array.of(1, 2, 3, 4), 1, 4, { cache: two })), /5 new tokens over 2 sequences/);
});
