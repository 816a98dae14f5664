import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { UsageError } from '../../src/util/errors.js';
import { generate, modelStopIds, TokenPicker } from '../../src/model/generate.js';
import { Rng } from '../../src/tensor/random.js';
import { loadModel } from '../../src/model/load.js';
import { BACKENDS, Golden, MODELS, modelDir } from './helpers.js';

for (const backend of BACKENDS) {
  describe(`generate vs transformers (${backend.name} backend)`, { skip: backend.skip }, () => {
    for (const name of MODELS) {
      test(`${name}: greedy and repetition penalty match model.generate`, async () => {
        setBackend(backend.name);
        const golden = new Golden(name);
        const model = await loadModel(modelDir(name));
        const prompt = [...golden.ints('gen.prompt')];
        const expected = [...golden.ints('gen.greedy')].slice(prompt.length);
        const streamed: number[] = [];
        const greedy = generate(model, prompt, { maxNewTokens: expected.length, temperature: 0, onToken: (id) => void streamed.push(id) });
        assert.deepEqual(greedy, expected);
        assert.deepEqual(streamed, expected);
        const penalized = generate(model, prompt, { maxNewTokens: expected.length, doSample: false, repetitionPenalty: 1.3 });
        assert.deepEqual(penalized, [...golden.ints('gen.rep_penalty')].slice(prompt.length));
        if (name === 'qwen2-bf16') {
          // Its weights are exactly bf16, so the frozen-bf16 kernels must decode the same tokens.
          const frozen = await loadModel(modelDir(name), { frozenBf16: true });
          assert.deepEqual(generate(frozen, prompt, { maxNewTokens: expected.length, temperature: 0 }), expected);
        }
      });
    }
  });
}

describe('generate options', () => {
  const prompt = [5, 17, 99, 3, 42];

  test('stops at a stop id (not returned) and when onToken returns false', async () => {
    setBackend('reference');
    const model = await loadModel(modelDir('qwen3-sharded'));
    const full = generate(model, prompt, { maxNewTokens: 8, temperature: 0 });
    assert.equal(full.length, 8);
    const stopAt = full.findIndex((id) => id !== full[0]);
    assert.ok(stopAt > 0);
    const stopped = generate(model, prompt, { maxNewTokens: 8, temperature: 0, stopIds: [full[stopAt]] });
    assert.deepEqual(stopped, full.slice(0, stopAt));
    let calls = 0;
    const cut = generate(model, prompt, { maxNewTokens: 8, temperature: 0, onToken: () => ++calls < 3 });
    assert.deepEqual(cut, full.slice(0, 3));
  });

  test('sampling is reproducible by seed, and narrow top-k / top-p reduce to greedy', async () => {
    setBackend('reference');
    const model = await loadModel(modelDir('mistral'));
    const opts = { maxNewTokens: 8, temperature: 1.5, topK: 0, topP: 1 };
    const a = generate(model, prompt, { ...opts, seed: 11 });
    assert.deepEqual(generate(model, prompt, { ...opts, seed: 11 }), a);
    const others = [12, 13, 14, 15].map((seed) => generate(model, prompt, { ...opts, seed }));
    assert.ok(others.some((o) => o.join() !== a.join()), 'different seeds should sample differently');
    const greedy = generate(model, prompt, { maxNewTokens: 8, temperature: 0 });
    assert.deepEqual(generate(model, prompt, { maxNewTokens: 8, temperature: 0.7, topK: 1, seed: 3 }), greedy);
    assert.deepEqual(generate(model, prompt, { maxNewTokens: 8, temperature: 0.7, topP: 1e-6, seed: 3 }), greedy);
  });

  test('sampling picks what sorting the whole vocabulary picks (transformers warpers: temperature, top-k, top-p)', async () => {
    const model = await loadModel(modelDir('mistral'));
    const V = model.config.vocab_size;
    const settings = [
      { topK: 50, topP: 1 }, { topK: 0, topP: 0.7 }, { topK: 5, topP: 0.7 }, { topK: 0, topP: 1 }, { topK: 0, topP: 0.05 },
    ];
    const noise = new Rng(5);
    for (const { topK, topP } of settings) {
      for (const spread of [0.5, 8]) { // flat and peaked distributions
        const seed = 100 + topK + spread;
        const picker = new TokenPicker(model, [1], { maxNewTokens: 1, temperature: 0.9, topK, topP, seed });
        const rng = new Rng(seed);
        for (let draw = 0; draw < 40; draw++) {
          const logits = Float32Array.from({ length: V }, (_, i) => noise.nextFloat() * spread + (i % 7 === 0 ? 1 : 0));
          const want = sortedSample(logits, 0.9, topK, topP, rng);
          assert.equal(picker.pick(logits.slice()), want, `topK ${topK} topP ${topP} spread ${spread} draw ${draw}`);
        }
      }
    }
  });

  test('bad options are usage errors', async () => {
    setBackend('reference');
    const model = await loadModel(modelDir('mistral'));
    assert.throws(() => generate(model, [], { maxNewTokens: 2 }), UsageError);
    assert.throws(() => generate(model, [1, 500], { maxNewTokens: 2 }), /prompt token 500 at position 1 is outside the vocabulary/);
    assert.throws(() => generate(model, prompt, { maxNewTokens: 2, topP: 0 }), /top_p must be in \(0, 1\]/);
    assert.throws(() => generate(model, prompt, { maxNewTokens: 2, temperature: -1 }), /temperature must be >= 0/);
    assert.throws(() => generate(model, prompt, { maxNewTokens: 2, topK: 1.5 }), /top_k must be a non-negative integer/);
    assert.throws(() => generate(model, prompt, { maxNewTokens: 2, repetitionPenalty: 0 }), /repetition_penalty must be > 0/);
  });
});

test('stop ids come from config.json and generation_config.json', async () => {
  const model = await loadModel(modelDir('mistral'));
  assert.deepEqual(modelStopIds(model), []);
  model.config.eos_token_id = [2];
  model.generationConfig = { eos_token_id: [2, 7] };
  assert.deepEqual(modelStopIds(model), [2, 7]);
  model.generationConfig = { eos_token_id: 9 };
  assert.deepEqual(modelStopIds(model), [2, 9]);
});

// transformers' sampling written plainly: every token sorted, top-k by the k-th value (ties kept), top-p walking up
// from the least likely token, then a draw walking down from the most likely.
function sortedSample(raw: Float32Array, temperature: number, topK: number, topP: number, rng: Rng): number {
  const V = raw.length;
  const logits = raw.map((x) => x / temperature);
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const keep = order.map(() => true);
  const kept = (i: number) => keep[i];
  if (topK > 0 && topK < V) for (let i = 0; i < V; i++) if (logits[i] < logits[order[topK - 1]]) keep[i] = false;
  const probs = (ids: number[]) => {
    const max = Math.max(...ids.filter(kept).map((i) => logits[i]));
    const p = new Map(ids.filter(kept).map((i) => [i, Math.exp(logits[i] - max)]));
    const total = [...p.values()].reduce((a, b) => a + b, 0);
    return (i: number) => (p.get(i) ?? 0) / total;
  };
  const first = probs(order);
  let cumulative = 0;
  for (let r = V - 1; r > 0 && topP < 1; r--) {
    cumulative += first(order[r]);
    if (cumulative <= 1 - topP) keep[order[r]] = false;
    else break;
  }
  const final = probs(order);
  let u = rng.nextFloat();
  const survivors = order.filter(kept);
  for (const id of survivors) {
    u -= final(id);
    if (u < 0) return id;
  }
  return survivors[survivors.length - 1];
}
