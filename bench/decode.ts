// Decode throughput of the inference engine on the quickstart model (examples/models/tiny-stories): one stream, and
// 8 streams of different prompts decoded one after another vs all at once (continuous batching: one batched forward
// per step). EOS is banned so every stream decodes exactly TOKENS tokens. Rounds alternate the two 8-stream modes and
// report per-round ratios (the machine may be shared). Run: node dist/bench/decode.js
import { InferenceEngine } from '../src/infer/engine.js';
import { openModel } from '../src/infer/open.js';

const MODEL = 'examples/models/tiny-stories';
const TOKENS = 64;
const ROUNDS = 3;
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
  const timed = async (fn: () => Promise<number>): Promise<number> => {
    const t0 = performance.now();
    const tokens = await fn();
    return tokens / ((performance.now() - t0) / 1000);
  };
  await run(PROMPTS[0]); // warm-up
  const lines = [`decode, ${MODEL}, ${TOKENS} new tokens per stream, greedy (tokens/s over all streams):`];
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const single = await timed(() => run(PROMPTS[0]));
    const sequential = await timed(async () => {
      let n = 0;
      for (const p of PROMPTS) n += await run(p);
      return n;
    });
    const concurrent = await timed(async () => (await Promise.all(PROMPTS.map(run))).reduce((a, b) => a + b, 0));
    ratios.push(concurrent / sequential);
    lines.push(`  round ${round}: 1 stream ${single.toFixed(0)}, 8 sequential ${sequential.toFixed(0)}, ` +
      `8 concurrent ${concurrent.toFixed(0)} (${(concurrent / sequential).toFixed(2)}x sequential, ${(concurrent / single).toFixed(2)}x 1 stream)`);
  }
  const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)];
  lines.push(`  median 8-concurrent / 8-sequential: ${median.toFixed(2)}x`);
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDecode()) console.log(line);
