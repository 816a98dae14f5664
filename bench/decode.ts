// Decode throughput of the inference engine on the quickstart model (examples/models/tiny-stories): one stream, and
// 8 streams of different prompts decoded at once (continuous batching: one batched forward per step), next to
// transformers' greedy `generate` on the same model and thread count (1 prompt, and the 8 as one left-padded batch).
// EOS is banned so every stream decodes exactly TOKENS tokens. Rounds alternate Retune and transformers and report
// per-round ratios (the machine may be shared). Run: node dist/bench/decode.js
import { getBackend } from '../src/backend/index.js';
import { InferenceEngine } from '../src/infer/engine.js';
import { openModel } from '../src/infer/open.js';
import { ratio, startTransformers } from './decode-baseline.js';

const MODEL = 'examples/models/tiny-stories';
const TOKENS = 64;
const ROUNDS = Number(process.env.RETUNE_BENCH_DECODE_ROUNDS ?? 3);
const PROMPTS = [
  'Once upon a time', 'The little fox', 'One day, Leo found', 'A sleepy cat', 'In the garden there was',
  'Mia liked to', 'The red hat', 'Near the river, a bird',
];

export async function benchDecode(): Promise<string[]> {
  const opened = await openModel(MODEL, { template: 'empty' });
  const engine = new InferenceEngine(opened, { maxBatch: 8 });
  const eos = new Map(engine.rawStopIds().map((id) => [id, -100]));
  const run = async (prompt: string): Promise<number> => {
    const r = await engine.complete(engine.rawPrompt(prompt), { maxNewTokens: TOKENS, sampling: { temperature: 0, logitBias: eos }, stopIds: [] });
    return r.ids.length;
  };
  const retune = async (prompts: string[]): Promise<number> => {
    const t0 = performance.now();
    const tokens = (await Promise.all(prompts.map(run))).reduce((a, b) => a + b, 0);
    return tokens / ((performance.now() - t0) / 1000);
  };
  const threads = getBackend().threads;
  const torch = await startTransformers(MODEL, TOKENS, threads);
  const transformers = async (prompts: string[]): Promise<number | null> => (torch === null ? null : torch.run(prompts));
  await run(PROMPTS[0]); // warm-up
  await transformers(PROMPTS.slice(0, 1));
  const lines = [
    `decode, ${MODEL}, ${TOKENS} new tokens per stream, greedy, ${threads} threads (tokens/s over all streams; ` +
      `transformers: ${torch === null ? 'skipped, no .venv' : 'generate, 8 prompts as one batch'}):`,
  ];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const one = await retune(PROMPTS.slice(0, 1));
      const torchOne = await transformers(PROMPTS.slice(0, 1));
      const eight = await retune(PROMPTS);
      const torchEight = await transformers(PROMPTS);
      lines.push(`  round ${round}: 1 stream ${one.toFixed(0)} (transformers ${torchOne?.toFixed(0) ?? '-'}, ${ratio(one, torchOne)}); ` +
        `8 streams ${eight.toFixed(0)} (transformers ${torchEight?.toFixed(0) ?? '-'}, ${ratio(eight, torchEight)}); ` +
        `8 / 1 stream ${ratio(eight, one)}`);
    }
  } finally {
    torch?.close();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDecode()) console.log(line);
