// Decode throughput on a Qwen2.5-0.5B-shaped model (random weights held as bf16, ~1 GB): one stream, then 8 streams
// decoded together by the scheduler, next to transformers' greedy `generate` on the same shape (random bf16 weights),
// same thread count, 1 prompt and a batch of 8. Decode is memory-bound at this size (every step reads all weights,
// ~1 GB), so one stream is bounded by memory bandwidth / 1 GB, and batching 8 sequences into one step should give
// several times the tokens/s of one. Rounds alternate Retune and transformers and print per-round ratios (the
// machine may be shared). Run: node dist/bench/decode-large.js
import { getBackend } from '../src/backend/index.js';
import { Scheduler } from '../src/infer/scheduler.js';
import { assembleModel } from '../src/model/assemble.js';
import { parseModelConfig } from '../src/model/config.js';
import { f32ToBf16, Tensor } from '../src/tensor/tensor.js';
import { ratio, startTransformers } from './decode-baseline.js';

const TOKENS = Number(process.env.RETUNE_BENCH_DECODE_TOKENS ?? 32);
const ROUNDS = Number(process.env.RETUNE_BENCH_DECODE_ROUNDS ?? 2);
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

const prompt = (i: number): number[] => [100 + i, 2000 + i, 30000 + i, 400 + i];

export async function benchDecodeLarge(): Promise<string[]> {
  const config = parseModelConfig(QWEN25_05B, 'Qwen2.5-0.5B shape');
  let seed = 1;
  const model = assembleModel(config, (name, shape) =>
    name.endsWith('norm.weight') ? Tensor.from(new Float32Array(shape[0]).fill(1), shape) : randomBf16(shape, seed++));
  const scheduler = new Scheduler(model, { maxBatch: STREAMS });
  const request = (i: number, maxNewTokens = TOKENS) => ({ promptIds: prompt(i), maxNewTokens, sampling: { temperature: 0 }, stopIds: [] });
  const retune = async (count: number): Promise<number> => {
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: count }, (_, i) => scheduler.submit(request(i))));
    return results.reduce((a, r) => a + r.ids.length, 0) / ((performance.now() - t0) / 1000);
  };
  const threads = getBackend().threads;
  const torch = await startTransformers('qwen2.5-0.5b-shape', TOKENS, threads);
  const transformers = async (count: number): Promise<number | null> =>
    torch === null ? null : torch.run(Array.from({ length: count }, (_, i) => prompt(i)));
  await scheduler.submit(request(0, 2)); // warm-up
  await transformers(1);
  const lines = [
    `decode, Qwen2.5-0.5B shape (random bf16 weights), ${TOKENS} new tokens per stream, greedy, ${threads} threads ` +
      `(tokens/s over all streams; transformers: ${torch === null ? 'skipped, no .venv' : 'generate, 8 prompts as one batch'}):`,
  ];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const one = await retune(1);
      const torchOne = await transformers(1);
      const eight = await retune(STREAMS);
      const torchEight = await transformers(STREAMS);
      lines.push(`  round ${round}: 1 stream ${one.toFixed(1)} (transformers ${torchOne?.toFixed(1) ?? '-'}, ${ratio(one, torchOne)}); ` +
        `${STREAMS} streams ${eight.toFixed(1)} (transformers ${torchEight?.toFixed(1) ?? '-'}, ${ratio(eight, torchEight)}); ` +
        `${STREAMS} / 1 stream ${ratio(eight, one)}`);
    }
  } finally {
    torch?.close();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDecodeLarge()) console.log(line);
