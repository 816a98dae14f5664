// LoRA SFT (r=8, every linear) of a Qwen2.5-0.5B-shaped model (hidden 896, 24 layers, 14 heads, 2 kv heads,
// intermediate 4864, vocab 151936, tied embeddings; random weights saved as bf16 in a temp folder, no download) with
// cutoff 512, through `retune train`, against transformers + PEFT (bench/lora_sft_torch.py) with the same dtype
// policy and thread count: frozen base in bf16 (`bf16: true`) or fp32, LoRA matrices and optimizer state in fp32.
// Cases run in interleaved rounds (Retune and PyTorch alternate which goes first), each in its own process; the
// figures are tokens/s over the steps after the first and the peak RSS of the process, with a ratio per round.
// Needs the repo's .venv (torch, transformers, peft); skipped with a message otherwise.
// Run directly as `node dist/bench/lora-sft.js [bf16:1 fp32:2 ...]` or through `npm run bench -- lora`; steps, rounds
// and the time budget come from RETUNE_BENCH_LORA_STEPS (4), RETUNE_BENCH_LORA_ROUNDS (2), RETUNE_BENCH_LORA_MINUTES
// (60).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseModelConfig } from '../src/model/config.js';
import { initModel } from '../src/model/init.js';
import { saveModel } from '../src/model/save.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const TOKENIZER = join(ROOT, 'test', 'fixtures', 'train', 'model'); // byte-level BPE with the qwen template's tokens

const CONFIG = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864,
  num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936,
  max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true,
  hidden_act: 'silu', pad_token_id: 0, eos_token_id: 2, torch_dtype: 'bfloat16',
};
const CUTOFF = 512;
const STEPS = Number(process.env.RETUNE_BENCH_LORA_STEPS ?? 4);
const ROUNDS = Number(process.env.RETUNE_BENCH_LORA_ROUNDS ?? 2);
const DEFAULT_CASES = ['bf16:1', 'bf16:2', 'fp32:1', 'fp32:2'];
// No round starts after this many minutes (each takes minutes: both frameworks, on a 0.5B model).
const MINUTES = Number(process.env.RETUNE_BENCH_LORA_MINUTES ?? 60);

interface Result {
  tokensPerS: number;
  peakRss: number;
}

// Runs a command to completion, sampling its peak RSS (VmHWM) from /proc while it runs.
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; peakRss: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRss = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakRss = Math.max(peakRss, Number(m[1]) * 1024);
      } catch {
        // the process just ended
      }
    }, 100);
    child.on('close', (code) => {
      clearInterval(poll);
      if (code === 0) resolve({ stdout, peakRss });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${stderr.slice(-3000)}`));
    });
  });
}

// A dataset whose every sample has more than `CUTOFF` tokens on both sides, so each is cut to exactly CUTOFF.
function writeData(dir: string, samples: number): void {
  mkdirSync(dir, { recursive: true });
  const animals = ['cat', 'dog', 'fox', 'owl', 'bee', 'cow'];
  const colors = ['red', 'blue', 'green', 'gold', 'gray', 'pink'];
  const text = (i: number, n: number): string =>
    Array.from({ length: n }, (_, j) => `The ${animals[(i + j) % 6]} is ${colors[(i * 5 + j) % 6]}. It runs fast.`).join(' ');
  const rows = Array.from({ length: samples }, (_, i) => ({ instruction: text(i, 80), input: '', output: text(i + 1, 80) }));
  writeFileSync(join(dir, 'long.json'), JSON.stringify(rows));
  writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify({ long: { file_name: 'long.json' } }));
}

async function retune(modelDir: string, dataDir: string, work: string, bf16: boolean, batch: number, threads: number): Promise<Result> {
  const out = join(work, `out-${bf16 ? 'bf16' : 'fp32'}-${batch}`);
  rmSync(out, { recursive: true, force: true });
  const yaml = [
    `model_name_or_path: ${modelDir}`, 'stage: sft', 'do_train: true', 'finetuning_type: lora', 'lora_rank: 8',
    'lora_alpha: 16', 'lora_target: all', `dataset_dir: ${dataDir}`, 'dataset: long', 'template: qwen',
    `cutoff_len: ${CUTOFF}`, `per_device_train_batch_size: ${batch}`, 'gradient_accumulation_steps: 1',
    `max_steps: ${STEPS}`, 'learning_rate: 1.0e-4', 'logging_steps: 1', 'save_strategy: "no"', `bf16: ${bf16}`,
    `output_dir: ${out}`, 'overwrite_output_dir: true', 'report_to: none',
  ].join('\n');
  const configPath = join(work, 'train.yaml');
  writeFileSync(configPath, yaml + '\n');
  const env = { ...process.env, RETUNE_THREADS: String(threads) };
  const { peakRss } = await run(process.execPath, [join(ROOT, 'bin', 'retune.js'), 'train', configPath], env);
  // Each row's throughput is its total tokens over the time since the log started: the steps after the first
  // give the steady rate.
  const rows = readFileSync(join(out, 'trainer_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((r) => typeof r.throughput === 'number' && r.throughput > 0);
  const [first, last] = [rows[0], rows[rows.length - 1]];
  const seconds = last.total_tokens / last.throughput - first.total_tokens / first.throughput;
  return { tokensPerS: (last.total_tokens - first.total_tokens) / seconds, peakRss };
}

async function torch(modelDir: string, bf16: boolean, batch: number, threads: number): Promise<Result> {
  const args = [join(ROOT, 'bench', 'lora_sft_torch.py'), modelDir, bf16 ? 'bfloat16' : 'float32', String(batch),
    String(CUTOFF), String(STEPS), String(threads)];
  const { stdout, peakRss } = await run(PYTHON, args, { ...process.env, OMP_NUM_THREADS: String(threads) });
  const r = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { tokens_per_s: number; peak_rss: number };
  return { tokensPerS: r.tokens_per_s, peakRss: Math.max(peakRss, r.peak_rss) };
}

export async function benchLoraSft(cases = DEFAULT_CASES): Promise<string[]> {
  if (!existsSync(PYTHON)) return ['lora-sft: skipped (needs .venv with torch, transformers and peft for the baseline)'];
  const threads = process.env.RETUNE_THREADS ? Number(process.env.RETUNE_THREADS) : availableParallelism();
  const work = mkdtempSync(join(tmpdir(), 'retune-lora-sft-'));
  try {
    const modelDir = join(work, 'model');
    saveModel(initModel(parseModelConfig(CONFIG, 'bench'), 0), modelDir, { dtype: 'BF16' });
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(TOKENIZER, f), join(modelDir, f));
    const dataDir = join(work, 'data');
    writeData(dataDir, 2 * STEPS + 2);
    const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
    const lines = [
      `lora-sft, Qwen2.5-0.5B-shaped, LoRA r=8 all linear, cutoff ${CUTOFF}, ${STEPS} steps (first not timed), ` +
        `${threads} threads, ${ROUNDS} interleaved rounds; tokens/s and peak RSS, Retune / PyTorch per round:`,
    ];
    // Every case's first round before any second one, so a run cut short by the time budget has each case once.
    const deadline = Date.now() + MINUTES * 60_000;
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        const [dtype, b] = c.split(':');
        const bf16 = dtype === 'bf16';
        const batch = Number(b);
        if (Date.now() > deadline) {
          lines.push(`  ${dtype} base, batch ${batch}, round ${round + 1}: not run, past the ${MINUTES}-minute budget ` +
            '(RETUNE_BENCH_LORA_MINUTES)');
          continue;
        }
        const order = round % 2 === 0 ? ['retune', 'torch'] : ['torch', 'retune'];
        const got: Record<string, Result> = {};
        for (const who of order) {
          got[who] = who === 'retune' ? await retune(modelDir, dataDir, work, bf16, batch, threads) : await torch(modelDir, bf16, batch, threads);
        }
        const [r, t] = [got.retune, got.torch];
        lines.push(`  ${dtype} base, batch ${batch}, round ${round + 1}: Retune ${r.tokensPerS.toFixed(1)} tok/s ` +
          `${gib(r.peakRss)} | PyTorch ${t.tokensPerS.toFixed(1)} tok/s ${gib(t.peakRss)} | ` +
          `speed ${(r.tokensPerS / t.tokensPerS).toFixed(2)}x, RSS ${(r.peakRss / t.peakRss).toFixed(2)}x`);
        console.error(lines[lines.length - 1]);
      }
    }
    return lines;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cases = process.argv.slice(2);
  for (const line of await benchLoraSft(cases.length > 0 ? cases : undefined)) console.log(line);
}
