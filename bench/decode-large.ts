// Decode throughput on a Qwen2.5-0.5B-shaped model (random weights held as bf16, ~1 GB): one stream, then 8 streams
// decoded together by the scheduler. Decode is memory-bound at this size (every step reads all weights), so batching
// 8 sequences into one step should give close to 8x the tokens/s of one. Run: node dist/bench/decode-large.js
import { Scheduler } from '../src/infer/scheduler.js';
import { assembleModel } from '../src/model/assemble.js';
import { parseModelConfig } from '../src/model/config.js';
import { f32ToBf16, Tensor } from '../src/tensor/tensor.js';

const TOKENS = 16;
const STREAMS = 8;

// Qwen/Qwen2.5-0.5B's config.json shape.
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
  num_attention_heads: 14, num_key_value_heads: 2, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000,
  tie_word_embeddings: true, vocab_size: 151936, eos_token_id: 151643, torch_dtype: 'bfloat16',
};

// Uniform values of std ~0.02 from a cheap LCG: their values do not matter to speed, and 0.5B normal draws would
// dominate the run.
function randomBf16(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32 - 0.5) * 0.07;
  }
  return Tensor.fromBf16(f32ToBf16(x), shape);
}

export async function benchDecodeLarge(): Promise<string[]> {
  const config = parseModelConfig(QWEN25_05B, 'Qwen2.5-0.5B shape');
  let seed = 1;
  const model = assembleModel(config, (name, shape) =>
    name.endsWith('norm.weight') ? Tensor.from(new Float32Array(shape[0]).fill(1), shape) : randomBf16(shape, seed++));
  const scheduler = new Scheduler(model, { maxBatch: STREAMS });
  const request = (i: number) => ({
    promptIds: [100 + i, 2000 + i, 30000 + i, 400 + i], maxNewTokens: TOKENS, sampling: { temperature: 0 }, stopIds: [],
  });
  const timed = async (count: number): Promise<number> => {
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: count }, (_, i) => scheduler.submit(request(i))));
    return results.reduce((a, r) => a + r.ids.length, 0) / ((performance.now() - t0) / 1000);
  };
  await scheduler.submit({ ...request(0), maxNewTokens: 2 }); // warm-up
  const one = await timed(1);
  const eight = await timed(STREAMS);
  const again = await timed(1);
  return [
    `decode, Qwen2.5-0.5B shape (random bf16 weights), ${TOKENS} new tokens per stream, greedy:`,
    `  1 stream ${one.toFixed(1)} tokens/s (again after: ${again.toFixed(1)}); ${STREAMS} concurrent ${eight.toFixed(1)} tokens/s ` +
      `in all (${(eight / ((one + again) / 2)).toFixed(2)}x one stream)`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDecodeLarge()) console.log(line);
