// Peak memory of LoRA training (frozen base held as bf16) against full fine-tuning, on a stories15M-like Llama
// (hidden 288, 6 layers, 6 heads, intermediate 768, vocab 32000, tied embeddings), seq 256, batch 8, a few AdamW
// steps. Each method runs in its own child process so one peak never hides the other; the child reports its
// getrusage maxRSS. Run directly as `node dist/bench/lora-memory.js` or through `npm run bench`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import { applyFinetuning } from '../src/model/adapters/index.js';
import { parseModelConfig } from '../src/model/config.js';
import { initModel } from '../src/model/init.js';
import { loadModel } from '../src/model/load.js';
import { saveModel } from '../src/model/save.js';
import { AdamW } from '../src/optim/adamw.js';
import { backward } from '../src/tensor/autograd.js';

const CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 288, intermediate_size: 768,
  num_hidden_layers: 6, num_attention_heads: 6, num_key_value_heads: 6, vocab_size: 32000,
  max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, torch_dtype: 'float32',
};
const B = 8;
const T = 256;
const STEPS = 3;

// The runs compared: LoRA with the frozen base in bf16 (what `bf16: true` gives), LoRA with it in fp32, full fp32.
const METHODS = {
  'lora-bf16': { finetuning_type: 'lora', bf16: true, label: 'LoRA r=8 all linear, bf16 frozen' },
  'lora-fp32': { finetuning_type: 'lora', bf16: false, label: 'LoRA r=8 all linear, fp32 frozen' },
  full: { finetuning_type: 'full', bf16: false, label: 'full fine-tuning, fp32' },
} as const;
type Method = keyof typeof METHODS;

// One child: load, apply the method, run STEPS optimizer steps, print peak RSS (bytes) and the last loss as JSON.
async function child(method: Method, modelDir: string): Promise<void> {
  const { finetuning_type, bf16 } = METHODS[method];
  const config = configSchema.parse({ finetuning_type, bf16, model_name_or_path: modelDir });
  const model = await loadModel(modelDir, { frozenBf16: config.bf16 });
  const { trainable } = applyFinetuning(model, config);
  const optimizer = new AdamW(trainable);
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 7919 + 13) % CONFIG.vocab_size;
  let loss = 0;
  const started = Date.now();
  for (let step = 0; step < STEPS; step++) {
    const l = model.loss(ids, ids, B, T);
    loss = l.item();
    backward(l);
    optimizer.step(1e-4);
    optimizer.zeroGrad();
  }
  const trainableCount = [...trainable.values()].reduce((n, t) => n + t.size, 0);
  process.stdout.write(`${JSON.stringify({
    maxRss: process.resourceUsage().maxRSS * 1024, loss, trainable: trainableCount, seconds: (Date.now() - started) / 1000,
  })}\n`);
}

function runChild(method: Method, modelDir: string): { maxRss: number; loss: number; trainable: number; seconds: number } {
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), method, modelDir], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`lora-memory child (${method}) failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string);
}

export async function benchLoraMemory(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'retune-lora-memory-'));
  try {
    // On disk, so each child loads it the way training does (frozen weights straight to bf16 for LoRA).
    saveModel(initModel(parseModelConfig(CONFIG, 'bench'), 0), dir);
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    const runs = (Object.keys(METHODS) as Method[]).map((method) => ({ method, ...runChild(method, dir) }));
    const full = runs.find((r) => r.method === 'full')!;
    return [
      `memory, stories15M-like Llama, B=${B} T=${T}, ${STEPS} AdamW steps, peak RSS of a child process:`,
      ...runs.map((r) => `  ${METHODS[r.method].label.padEnd(34)} ${mib(r.maxRss).padStart(9)} ` +
        `(${(r.maxRss / full.maxRss).toFixed(2)} of full; ${r.trainable} trainable; ${r.seconds.toFixed(1)} s)`),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [method, modelDir] = process.argv.slice(2);
  if (method in METHODS) await child(method as Method, modelDir);
  else for (const line of await benchLoraMemory()) console.log(line);
}
