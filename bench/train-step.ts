// One full-fine-tuning training step (forward + backward + AdamW) of a stories15M-like Llama, Retune next to
// PyTorch 2.13 eager (as installed, and with glibc malloc tuned so it stops returning memory to the OS), in one run;
// then both in bf16 mixed precision (Retune's bf16 copies of the trained weights, PyTorch's CPU autocast).
// Each measurement is its own child process so peak RSS and CPU times are per setting.
//   node dist/bench/train-step.js            (also part of `npm run bench`)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getBackend } from '../src/backend/index.js';
import { parseModelConfig } from '../src/model/config.js';
import { initModel } from '../src/model/init.js';
import { trainedProductWeights } from '../src/model/adapters/index.js';
import { AdamW } from '../src/optim/adamw.js';
import { backward } from '../src/tensor/autograd.js';
import { roundBf16Copies } from '../src/tensor/bf16-copies.js';
import type { Tensor } from '../src/tensor/tensor.js';

const CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 288, intermediate_size: 768,
  num_hidden_layers: 6, num_attention_heads: 6, num_key_value_heads: 6, vocab_size: 32000,
  max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
};
const B = 8;
const T = 256;
const STEPS = 3;
const PYTHON = '.venv/bin/python';
const TUNED_MALLOC = { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: '68719476736', MALLOC_TOP_PAD_: '268435456' };

interface StepResult {
  tokens_per_s: number;
  gflops: number;
  peak_rss_mb: number;
  user_s: number;
  sys_s: number;
}

// Model FLOPs per token: 6 per parameter (forward + backward) plus causal attention's score and value products.
function flopsPerToken(params: number): number {
  return 6 * params + 6 * CONFIG.num_hidden_layers * CONFIG.hidden_size * T;
}

// The benchmarked model and one full-fine-tuning step of it (also driven by bench/profile-step.ts); with bf16, the
// products read bf16 copies of the weights, remade after each update as the trainer does.
export function makeTrainStep(bf16 = false): { step: () => void; params: Map<string, Tensor>; tokens: number } {
  const config = parseModelConfig(CONFIG, 'bench');
  const model = initModel(config, 0);
  const params = model.namedParameters();
  for (const t of params.values()) t.requiresGrad = true;
  const copies = bf16 ? trainedProductWeights(model, params) : [];
  roundBf16Copies(copies);
  const optimizer = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 7919 + 13) % CONFIG.vocab_size;
  const step = (): void => {
    const loss = model.loss(ids, ids, B, T);
    backward(loss);
    optimizer.step(1e-4);
    roundBf16Copies(copies);
    optimizer.zeroGrad();
  };
  return { step, params, tokens: B * T };
}

function child(bf16: boolean): void {
  const { step, params } = makeTrainStep(bf16);
  step(); // warm-up: first touch of every buffer
  const usage0 = process.resourceUsage();
  const start = performance.now();
  for (let i = 0; i < STEPS; i++) step();
  const seconds = (performance.now() - start) / 1000;
  const usage1 = process.resourceUsage();
  const count = [...params.values()].reduce((n, t) => n + t.size, 0);
  const tokens = B * T * STEPS;
  const result: StepResult = {
    tokens_per_s: tokens / seconds,
    gflops: (tokens * flopsPerToken(count)) / seconds / 1e9,
    peak_rss_mb: usage1.maxRSS / 1024,
    user_s: (usage1.userCPUTime - usage0.userCPUTime) / 1e6,
    sys_s: (usage1.systemCPUTime - usage0.systemCPUTime) / 1e6,
  };
  process.stdout.write(`${JSON.stringify({ ...result, backend: getBackend().name, kernel_path: getBackend().kernelPath })}\n`);
}

function lastJson(command: string, args: string[], env: Record<string, string>): StepResult & { backend?: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string);
}

function row(label: string, r: StepResult): string {
  return `  ${label.padEnd(34)} ${r.tokens_per_s.toFixed(0).padStart(6)} tok/s ${r.gflops.toFixed(1).padStart(6)} GFLOP/s ` +
    `peak RSS ${r.peak_rss_mb.toFixed(0).padStart(5)} MB  user ${r.user_s.toFixed(1)} s  sys ${r.sys_s.toFixed(1)} s`;
}

// Settings are run in rounds, each round every setting once, back to back: these VMs' speed drifts by tens of
// percent over minutes, so a ratio is taken inside each round and the rounds' medians are reported.
const ROUNDS = Number(process.env.RETUNE_BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// The round whose tokens/s is the median, so its other columns (RSS, CPU times) come from the same run.
function medianRun(runs: StepResult[]): StepResult {
  const m = median(runs.map((r) => r.tokens_per_s));
  return runs.find((r) => r.tokens_per_s === m) as StepResult;
}

export async function benchTrainStep(): Promise<string[]> {
  const self = fileURLToPath(import.meta.url);
  const torch = existsSync(PYTHON);
  const path = getBackend().kernelPath;
  const settings: [string, () => StepResult][] = [1, 2].map((threads) => [
    `Retune (${path}), ${threads} thread${threads > 1 ? 's' : ''}`,
    () => lastJson(process.execPath, [self, '--child'], { RETUNE_THREADS: String(threads) }),
  ]);
  // On a wider host, the AVX2 path as well: what the wider kernels gain on the same machine.
  const narrower = path !== 'avx2' && path !== 'portable' && path !== 'reference';
  if (narrower) {
    settings.push(['Retune (avx2), 2 threads', () =>
      lastJson(process.execPath, [self, '--child'], { RETUNE_THREADS: '2', RETUNE_ISA: 'avx2' })]);
  }
  const torchAt = settings.length;
  const script = 'bench/train_step_torch.py';
  if (torch) {
    settings.push(['PyTorch 2 threads, as installed', () => lastJson(PYTHON, [script, '2', String(STEPS)], {})]);
    settings.push(['PyTorch 2 threads, tuned malloc', () => lastJson(PYTHON, [script, '2', String(STEPS)], TUNED_MALLOC)]);
  }
  const bf16At = settings.length;
  settings.push([`Retune (${path}) bf16 mixed, 2 threads`, () =>
    lastJson(process.execPath, [self, '--child', 'bf16'], { RETUNE_THREADS: '2' })]);
  if (torch) {
    settings.push(['PyTorch bf16 autocast, 2 threads, tuned', () =>
      lastJson(PYTHON, [script, '2', String(STEPS), 'bf16'], TUNED_MALLOC)]);
  }
  const runs = settings.map((): StepResult[] => []);
  for (let round = 0; round < ROUNDS; round++) settings.forEach(([, run], i) => runs[i].push(run()));
  const lines = [
    `train step, stories15M-like Llama (15.2M params), B=${B} T=${T}, ${STEPS} steps after one warm-up; ` +
      `median of ${ROUNDS} rounds:`,
    ...settings.map(([label], i) => row(label, medianRun(runs[i]))),
  ];
  if (!torch) {
    lines.push(`  PyTorch: skipped (${PYTHON} not found; see README "Benchmarks" to create the venv)`);
    return lines;
  }
  // Retune's 2-thread run (setting 1) over setting i, round by round.
  const ratios = (i: number) => runs[1].map((r, round) => r.tokens_per_s / runs[i][round].tokens_per_s);
  const summary = (i: number) => {
    const v = ratios(i);
    return `${median(v).toFixed(2)}x (rounds ${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})`;
  };
  lines.push(
    `  ratio Retune (${path}) / PyTorch as installed: ${summary(torchAt)}, / PyTorch tuned: ${summary(torchAt + 1)} ` +
      '(2 threads, per round; target >= 1.5x tuned)',
  );
  if (narrower) lines.push(`  ratio Retune ${path} / avx2 path: ${summary(2)} (2 threads, per round)`);
  const bf16Ratio = runs[bf16At].map((r, round) => r.tokens_per_s / runs[bf16At + 1][round].tokens_per_s);
  lines.push(`  ratio Retune bf16 mixed / PyTorch bf16 autocast: ${median(bf16Ratio).toFixed(2)}x ` +
    `(rounds ${Math.min(...bf16Ratio).toFixed(2)}-${Math.max(...bf16Ratio).toFixed(2)}) (2 threads, per round)`);
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--child') child(process.argv[3] === 'bf16');
  else for (const line of await benchTrainStep()) console.log(line);
}
