// A run config for the vocabulary tests: the train fixture (or another model) on 12 answers that use the new tokens
// zebra, <animal> and </animal> (3 steps of batch 2 x 2 in one epoch).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeConfig } from '../train/run-helpers.js';

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
