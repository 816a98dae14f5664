// A run config for the vocabulary tests: the train fixture (or another model) on 12 answers that use the new tokens
// zebra, <animal> and </animal> (3 steps of batch 2 x 2 in one epoch), and the resume check they share.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, tempDir, train, writeConfig } from '../train/run-helpers.js';

export const TOKENS = { add_tokens: 'zebra', add_special_tokens: '<animal>,</animal>' };

export function vocabConfig(name: string, extra: Record<string, unknown> = {}): { cfg: string; out: string } {
  const dir = tempDir(name);
  const data = join(dir, 'data');
  mkdirSync(data);
  const rows = Array.from({ length: 12 }, (_, i) => ({ instruction: `Tag animal ${i}`, input: '', output: `<animal>zebra ${i}</animal>` }));
  writeFileSync(join(data, 'tagged.json'), JSON.stringify(rows));
  writeFileSync(join(data, 'dataset_info.json'), JSON.stringify({ tagged: { file_name: 'tagged.json' } }));
  const cfg = writeConfig(dir, { dataset_dir: data, dataset: 'tagged', num_train_epochs: 1, ...TOKENS, ...extra });
  return { cfg, out: join(dir, 'out') };
}

// Trains `cfg` for one step, resumes it to its end, and checks the adapter it ends with is the straight run's (in
// `straightOut`) bit for bit.
export async function assertResumeMatches(cfg: string, out: string, straightOut: string): Promise<void> {
  const first = await train(cfg, ['max_steps=1']);
  assert.equal(first.code, 0, explain(first));
  const resumed = await train(cfg);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.match(resumed.stdout, /Resume plan: checkpoint-1, step 1 of 3/);
  const weights = (dir: string) => readFileSync(join(dir, 'adapter_model.safetensors'));
  assert.ok(weights(out).equals(weights(straightOut)), 'final adapter weights differ from the straight run');
}
