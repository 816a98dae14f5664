// One LoRA DPO training step (policy forward + backward with chosen and rejected in one batch, the reference's
// forward with the adapters disabled, AdamW) of a stories15M-like Llama: Retune next to TRL 1.13's DPOTrainer loss
// (its _compute_loss on the same shapes, with PyTorch 2.13 eager), each in its own child process, in rounds.
//   node dist/bench/dpo-step.js            (also `npm run bench -- dpo`)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import type { TokenizedRow } from '../src/data/index.js';
import { applyFinetuning } from '../src/model/adapters/finetuning.js';
import { parseModelConfig } from '../src/model/config.js';
import { initModel } from '../src/model/init.js';
import { createOptimizer } from '../src/optim/create.js';
import { backward } from '../src/tensor/autograd.js';
import { buildObjective } from '../src/train/stages/index.js';

const CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 288, intermediate_size: 768,
  num_hidden_layers: 6, num_attention_heads: 6, num_key_value_heads: 6, vocab_size: 32000,
  max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
};
const PAIRS = 4; // 8 sequences per step
const PROMPT = 64;
const ANSWER = 64; // T = 128
const STEPS = 3;
const PYTHON = '.venv/bin/python';

interface StepResult { tokens_per_s: number; peak_rss_mb: number }

// Pair i: prompt + chosen and prompt + rejected, token ids spread over the vocabulary; labels -100 on the prompt.
function pairRows(): TokenizedRow[] {
  const tok = (i: number, t: number): number => ((i * 7919 + t * 104729 + 13) % (CONFIG.vocab_size - 3)) + 3;
  return Array.from({ length: PAIRS }, (_, i) => {
    const prompt = Array.from({ length: PROMPT }, (_, t) => tok(i, t));
    const answer = (k: number) => Array.from({ length: ANSWER }, (_, t) => tok(i + 100 * k, t + PROMPT));
    const ignored = prompt.map(() => -100);
    return {
      inputIds: Int32Array.from([...prompt, ...answer(1)]), labels: Int32Array.from([...ignored, ...answer(1)]),
      rejectedIds: Int32Array.from([...prompt, ...answer(2)]), rejectedLabels: Int32Array.from([...ignored, ...answer(2)]),
    };
  });
}

async function child(): Promise<void> {
  const config = configSchema.parse({
    stage: 'dpo', model_name_or_path: 'bench', finetuning_type: 'lora', lora_rank: 8, lora_target: 'all',
    pref_beta: 0.1, learning_rate: 1e-4,
  });
  const model = initModel(parseModelConfig(CONFIG, 'bench'), 0);
  const finetuning = applyFinetuning(model, config);
  const objective = await buildObjective(config, model, finetuning, 0);
  const optimizer = createOptimizer(config, finetuning.trainable);
  const rows = pairRows();
  const step = (): void => {
    for (const m of objective.microLosses([rows])) backward(m.loss);
    optimizer.step(1e-4);
    optimizer.zeroGrad();
  };
  step(); // warm-up
  const start = performance.now();
  for (let i = 0; i < STEPS; i++) step();
  const seconds = (performance.now() - start) / 1000;
  const tokens = 2 * PAIRS * (PROMPT + ANSWER) * STEPS;
  const result: StepResult = { tokens_per_s: tokens / seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function lastJson(command: string, args: string[], env: Record<string, string>): StepResult {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string);
}

const ROUNDS = Number(process.env.RETUNE_BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

export async function benchDpoStep(): Promise<string[]> {
  const self = fileURLToPath(import.meta.url);
  const shape = `${PAIRS} pairs, T=${PROMPT + ANSWER} (prompt ${PROMPT} + answer ${ANSWER}), LoRA r=8 on every linear`;
  const ours = () => lastJson(process.execPath, [self, '--child'], { RETUNE_THREADS: '2' });
  if (!existsSync(PYTHON)) {
    const r = ours();
    return [`dpo step, stories15M-like Llama, ${shape}: Retune ${r.tokens_per_s.toFixed(0)} tok/s (TRL: no ${PYTHON})`];
  }
  const trl = () => lastJson(PYTHON, ['bench/dpo_step_trl.py', '2', String(STEPS), String(PAIRS), String(PROMPT), String(ANSWER)], {});
  const runs: [StepResult, StepResult][] = [];
  for (let round = 0; round < ROUNDS; round++) runs.push([ours(), trl()]);
  const ratios = runs.map(([a, b]) => a.tokens_per_s / b.tokens_per_s);
  const med = (i: 0 | 1) => median(runs.map((r) => r[i].tokens_per_s));
  const rss = (i: 0 | 1) => median(runs.map((r) => r[i].peak_rss_mb));
  return [
    `dpo step, stories15M-like Llama, ${shape}, 2 threads, ${STEPS} steps after one warm-up; median of ${ROUNDS} rounds:`,
    `  Retune (native)                   ${med(0).toFixed(0).padStart(6)} tok/s  peak RSS ${rss(0).toFixed(0)} MB`,
    `  TRL 1.13 DPOTrainer loss, PyTorch ${med(1).toFixed(0).padStart(6)} tok/s  peak RSS ${rss(1).toFixed(0)} MB`,
    `  ratio Retune / TRL: ${median(ratios).toFixed(2)}x (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--child') await child();
  else for (const line of await benchDpoStep()) console.log(line);
}
