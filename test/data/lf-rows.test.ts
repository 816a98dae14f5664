// Rows checked against LLaMA-Factory's own pipeline (test/fixtures/data/make_lf_rows.py ran its get_dataset on
// test/fixtures/data/lf): packing into cutoff_len - 1, preprocessing_batch_size deciding KTO pairs, pt block tails and
// packing groups, mask_history on a reasoning template with and without preserve_thinking, and the batch layout of
// datasets with empty rows under preprocessing_num_workers 1, 2, 3 and more workers than rows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import type { DataStage } from '../../src/data/converter.js';
import type { TokenizedRow } from '../../src/data/dataset-store.js';
import { prepareDataset } from '../../src/data/prepare.js';
import { IGNORE_INDEX } from '../../src/data/processors.js';
import { FIXTURES, qwen3 } from './helpers.js';

interface LfRow {
  input_ids: number[];
  labels?: number[]; // absent for pt: its collator trains on every id
  kl_input_ids?: number[];
  kl_labels?: number[];
  kto_tags?: boolean;
}

const golden = JSON.parse(readFileSync(join(FIXTURES, 'lf-rows.json'), 'utf8')) as Record<string, {
  stage: DataStage; args: Record<string, unknown>; rows: LfRow[];
}>;

async function retuneRows(name: string): Promise<{ ours: TokenizedRow[]; lf: LfRow[] }> {
  const { stage, args, rows } = golden[name];
  const config = configSchema.parse({ dataset_dir: join(FIXTURES, 'lf'), seed: 7, stage: stage === 'kto' ? 'sft' : stage, ...args });
  const data = await prepareDataset(config, await qwen3(), stage);
  return { ours: Array.from({ length: data.train.size }, (_, i) => data.train.get(i)), lf: rows };
}

const packed = (name: string): boolean => golden[name].stage === 'sft' && (golden[name].args.packing === true || golden[name].args.neat_packing === true);

for (const name of Object.keys(golden).filter((n) => !packed(n))) {
  test(`${name}: the rows LLaMA-Factory makes`, async () => {
    const { ours, lf } = await retuneRows(name);
    assert.equal(ours.length, lf.length);
    ours.forEach((row, i) => {
      assert.deepEqual([...row.inputIds], lf[i].input_ids, `row ${i} ids`);
      assert.deepEqual([...row.labels], lf[i].labels ?? lf[i].input_ids, `row ${i} labels`);
      if (lf[i].kl_input_ids === undefined) return;
      assert.deepEqual([...(row.klIds ?? [])], lf[i].kl_input_ids, `row ${i} KL ids`);
      assert.deepEqual([...(row.klLabels ?? [])], lf[i].kl_labels, `row ${i} KL labels`);
      assert.equal(row.ktoTag, lf[i].kto_tags, `row ${i} tag`);
    });
  });
}

// LLaMA-Factory pads each packed row to cutoff_len with ignored labels; Retune's collate pads at batch time.
for (const name of Object.keys(golden).filter(packed)) {
  test(`${name}: the packed rows LLaMA-Factory makes, before its padding`, async () => {
    const { ours, lf } = await retuneRows(name);
    const cutoff = golden[name].args.cutoff_len as number;
    assert.equal(ours.length, lf.length);
    ours.forEach((row, i) => {
      const n = row.inputIds.length;
      assert.ok(n <= cutoff - 1, `row ${i} has ${n} tokens`);
      assert.deepEqual([...row.inputIds], lf[i].input_ids.slice(0, n), `row ${i} ids`);
      const labels = lf[i].labels as number[];
      assert.deepEqual([...row.labels], labels.slice(0, n), `row ${i} labels`);
      assert.ok(labels.slice(n).every((l) => l === IGNORE_INDEX), `row ${i}: LLaMA-Factory's row goes on past ours`);
    });
  });
}
