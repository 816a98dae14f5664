// Sliding-window attention end to end on a tiny Mistral (window 4 in every layer) and a tiny Qwen2 (window 3 in layer
// 1 only, max_window_layers = 1), both with sequences longer than the window: logits, loss and gradients against
// transformers (eager attention, which applies the window), HF's generate, and cached decoding against full
// recomputation.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { generate } from '../../src/model/generate.js';
import { KVCache } from '../../src/model/kv-cache.js';
import { loadModel } from '../../src/model/load.js';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { BACKENDS, copyModel, editJson, Golden, maxAbsDiff, modelDir, relError } from './helpers.js';

const FIXTURES = [
  { name: 'mistral-swa', window: 4, layers: [true, true] },
  { name: 'qwen2-swa', window: 3, layers: [false, true] },
];
const B = 2;
const T = 11;

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

for (const backend of BACKENDS) {
  describe(`sliding-window attention vs transformers (${backend.name} backend)`, { skip: backend.skip }, () => {
    for (const { name, window, layers } of FIXTURES) {
      test(`${name}: logits, loss and every gradient (window ${window}, T=11)`, async () => {
        setBackend(backend.name);
        const golden = new Golden(name);
        const model = await loadModel(modelDir(name));
        assert.equal(model.config.sliding_window, window);
        assert.deepEqual(model.config.sliding_layers, layers);
        for (const t of model.namedParameters().values()) t.requiresGrad = true;
        const ids = golden.ints('input_ids');
        const labels = golden.ints('labels');
        assert.equal(ids.length, B * T);
        const logits = noGrad(() => model.forward(ids, B, T));
        const diff = maxAbsDiff(logits.data, golden.get('logits'));
        assert.ok(diff <= 1e-4, `logits differ by ${diff}`);

        const loss = model.loss(ids, labels, B, T);
        const expected = golden.get('loss')[0];
        assert.ok(Math.abs(loss.item() - expected) <= 1e-5 * expected, `loss ${loss.item()} vs ${expected}`);
        backward(loss);
        const names = [...golden.tensors.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5));
        assert.deepEqual([...model.namedParameters().keys()].sort(), names.sort());
        for (const [param, t] of model.namedParameters()) {
          const err = relError(t.grad!, golden.get(`grad.${param}`));
          assert.ok(err <= 1e-4, `${param}: gradient relative error ${err}`);
        }
      });

      test(`${name}: greedy and repetition penalty match model.generate (prompt and output longer than the window)`, async () => {
        setBackend(backend.name);
        const golden = new Golden(name);
        const model = await loadModel(modelDir(name));
        const prompt = [...golden.ints('gen.prompt')];
        const expected = [...golden.ints('gen.greedy')].slice(prompt.length);
        assert.ok(prompt.length > window);
        assert.deepEqual(generate(model, prompt, { maxNewTokens: expected.length, temperature: 0 }), expected);
        const penalized = generate(model, prompt, { maxNewTokens: expected.length, doSample: false, repetitionPenalty: 1.3 });
        assert.deepEqual(penalized, [...golden.ints('gen.rep_penalty')].slice(prompt.length));
      });

      test(`${name}: greedy decoding with the KV cache equals full recomputation`, async () => {
        setBackend(backend.name);
        const model = await loadModel(modelDir(name));
        const prompt = [7, 88, 3, 121, 64, 9, 30]; // longer than the window
        const steps = 12;
        const cached = generate(model, prompt, { maxNewTokens: steps, temperature: 0 });
        const recomputed: number[] = [];
        const seq = [...prompt];
        for (let s = 0; s < steps; s++) {
          const logits = noGrad(() => model.forward(Int32Array.from(seq), 1, seq.length, { lastLogits: true })).data;
          const next = argmax(logits);
          recomputed.push(next);
          seq.push(next);
        }
        assert.deepEqual(cached, recomputed);
        // Every position's logits through the cache, one token at a time, equal the full pass.
        const full = noGrad(() => model.forward(Int32Array.from(seq), 1, seq.length)).data;
        const { vocab_size: V, num_hidden_layers: nLayers, num_key_value_heads: nKV, head_dim: hd } = model.config;
        const cache = new KVCache({ nLayers, B: 1, nKV, hd });
        for (let t = 0; t < seq.length; t++) {
          const step = noGrad(() => model.forward(Int32Array.from([seq[t]]), 1, 1, { cache })).data;
          const diff = maxAbsDiff(step, full.subarray(t * V, (t + 1) * V));
          assert.ok(diff <= 1e-4, `position ${t}: cached logits differ by ${diff}`);
        }
      });
    }
  });
}

test('a window of at least the sequence length gives the plain causal logits; a shorter one changes them', async () => {
  setBackend('reference');
  const golden = new Golden('mistral-swa');
  const ids = golden.ints('input_ids');
  const windowed = await loadModel(modelDir('mistral-swa'));
  const plainDir = copyModel('mistral-swa');
  editJson(join(plainDir, 'config.json'), (c) => {
    delete c.sliding_window;
  });
  const plain = await loadModel(plainDir);
  assert.equal(plain.config.sliding_window, null);
  const wide = await loadModel(modelDir('mistral-swa'));
  wide.config.sliding_window = T;
  const a = noGrad(() => plain.forward(ids, B, T)).data;
  assert.deepEqual(noGrad(() => wide.forward(ids, B, T)).data, a);
  const b = noGrad(() => windowed.forward(ids, B, T)).data;
  const V = windowed.config.vocab_size;
  for (let r = 0; r < B; r++) {
    // Positions inside the window see the same keys either way.
    const inside = (r * T + 4) * V;
    assert.deepEqual(b.subarray(r * T * V, inside), a.subarray(r * T * V, inside));
  }
  assert.ok(maxAbsDiff(a, b) > 1e-2, 'the window must change the logits past it');
});

test('gradient checkpointing recomputes windowed layers with the same window', async () => {
  setBackend('reference');
  const golden = new Golden('qwen2-swa');
  const ids = golden.ints('input_ids');
  const labels = golden.ints('labels');
  const grads = async (checkpointing: boolean): Promise<Map<string, Float32Array>> => {
    const model = await loadModel(modelDir('qwen2-swa'));
    model.gradientCheckpointing = checkpointing;
    for (const t of model.namedParameters().values()) t.requiresGrad = true;
    backward(model.loss(ids, labels, B, T));
    return new Map([...model.namedParameters()].map(([n, t]) => [n, Float32Array.from(t.grad!)]));
  };
  const plain = await grads(false);
  for (const [name, g] of await grads(true)) assert.deepEqual(g, plain.get(name), name);
});
