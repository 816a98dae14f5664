// Retune's half of the PEFT round trip (scripts/check_peft_roundtrip.py is the other): for each adapter kind, train
// a fresh adapter a few AdamW steps on the PEFT fixture's tiny Llama, save it in PEFT layout, export the merged
// model, and record the logits Retune computes on fixed ids in <work dir>/cases.json.
//   node dist/scripts/peft-roundtrip.js <work dir>
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { applyFinetuning, saveAdapter } from '../src/model/adapters/index.js';
import { exportModel } from '../src/model/export.js';
import { loadModel } from '../src/model/load.js';
import { AdamW } from '../src/optim/adamw.js';
import { backward, noGrad } from '../src/tensor/autograd.js';

const BASE = resolve('test/fixtures/peft/base');
const IDS = [[1, 5, 9, 33, 70, 2, 101, 17], [3, 3, 64, 8, 127, 40, 11, 0]];
const CASES: Record<string, Record<string, unknown>> = {
  lora: { lora_rank: 4, lora_dropout: 0.1 },
  rslora_modules_to_save: { lora_rank: 8, lora_alpha: 4, use_rslora: true, lora_target: 'q_proj,v_proj,down_proj', additional_target: 'lm_head' },
  dora: { lora_rank: 4, use_dora: true, lora_dropout: 0.05 },
};

async function runCase(name: string, keys: Record<string, unknown>, workDir: string): Promise<Record<string, unknown>> {
  const config = configSchema.parse({ model_name_or_path: BASE, seed: 7, ...keys });
  const model = await loadModel(BASE);
  const ids = Int32Array.from(IDS.flat());
  const [B, T] = [IDS.length, IDS[0].length];
  const before = noGrad(() => model.forward(ids, B, T)).data.slice();
  const { trainable, adapters } = applyFinetuning(model, config);
  const optimizer = new AdamW(trainable);
  for (let step = 0; step < 5; step++) {
    backward(model.loss(ids, ids, B, T));
    optimizer.step(0.01);
    optimizer.zeroGrad();
  }
  adapters!.setTraining(false);
  const logits = noGrad(() => model.forward(ids, B, T)).data;
  let moved = 0;
  for (let i = 0; i < logits.length; i++) moved = Math.max(moved, Math.abs(logits[i] - before[i]));
  const adapter = join(workDir, name, 'adapter');
  const exported = join(workDir, name, 'merged');
  saveAdapter(adapters!, adapter, config);
  await exportModel({ ...config, adapter_name_or_path: adapter, export_dir: exported });
  return { name, base: BASE, adapter, export: exported, ids: IDS, logits: Array.from(logits), moved };
}

const workDir = resolve(process.argv[2] ?? '');
if (process.argv.length !== 3) {
  console.error('usage: node dist/scripts/peft-roundtrip.js <work dir>');
  process.exit(2);
}
rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const cases = [];
for (const [name, keys] of Object.entries(CASES)) cases.push(await runCase(name, keys, workDir));
writeFileSync(join(workDir, 'cases.json'), JSON.stringify(cases));
console.log(`wrote ${cases.length} cases to ${join(workDir, 'cases.json')}`);
