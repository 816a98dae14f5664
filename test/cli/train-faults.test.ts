// Damaged checkpoints and diverging runs: a checkpoint with a corrupted or deleted file is reported by name and
// skipped (and kept), a named one that does not verify refuses, and non-finite steps are skipped, logged, and stop
// the run after max_bad_steps in a row with the last checkpoint untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { verifyCheckpoint } from '../../src/train/checkpoint.js';
import { explain, logRows, stepRows, tempDir, train, writeConfig } from '../train/run-helpers.js';

test('corrupted and incomplete checkpoints are reported by name, skipped, kept; the resume still ends identical', async () => {
  const dir = tempDir('corrupt');
  const cfg = writeConfig(dir, { save_steps: 3 });
  const out = join(dir, 'out');
  const first = await train(cfg);
  assert.equal(first.code, 0, explain(first));
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort(),
    ['checkpoint-10', 'checkpoint-3', 'checkpoint-6', 'checkpoint-9']);
  const straightRows = stepRows(out);
  const straightWeights = readFileSync(join(out, 'adapter_model.safetensors'));

  const optimizerFile = join(out, 'checkpoint-10', 'optimizer.safetensors');
  const size = readFileSync(optimizerFile).length;
  truncateSync(optimizerFile, size - 8);
  rmSync(join(out, 'checkpoint-9', 'train_state.json'));

  const named = await train(cfg, [`resume_from_checkpoint=${join(out, 'checkpoint-10')}`]);
  assert.equal(named.code, 2, explain(named));
  assert.match(named.stderr, new RegExp(`checkpoint-10 does not verify: optimizer.safetensors has ${size - 8} bytes`));

  const r = await train(cfg);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, new RegExp(`skipping checkpoint-10: optimizer.safetensors has ${size - 8} bytes, manifest says ${size}`));
  assert.match(r.stdout, /skipping checkpoint-9: train_state.json is missing/);
  assert.match(r.stdout, /Resume plan: checkpoint-6, step 6 of 10/);
  assert.ok(existsSync(join(out, 'checkpoint-9.old-1', 'optimizer.safetensors')), 'the broken checkpoint-9 was not kept');
  assert.ok(existsSync(join(out, 'checkpoint-10.old-1', 'optimizer.safetensors')), 'the broken checkpoint-10 was not kept');
  assert.equal(verifyCheckpoint(join(out, 'checkpoint-10')).ok, true);
  assert.deepEqual(stepRows(out), straightRows);
  assert.ok(readFileSync(join(out, 'adapter_model.safetensors')).equals(straightWeights));
});

test('non-finite steps are skipped and logged; max_bad_steps in a row stops the run, last checkpoint untouched', async () => {
  const dir = tempDir('nan');
  const cfg = writeConfig(dir, { save_steps: 1, learning_rate: 1e36, lr_scheduler_type: 'constant', warmup_steps: 0 });
  const out = join(dir, 'out');
  const r = await train(cfg, ['max_bad_steps=2']);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, /training stopped at step \d+: 3 steps in a row had a non-finite loss or gradient \(max_bad_steps 2\)/);
  const skipped = logRows(out).filter((row) => row.event === 'skipped_step');
  assert.equal(skipped.length, 3);
  assert.match(String(skipped[0].reason), /non-finite/);
  const lastGood = Math.min(...skipped.map((row) => row.current_steps as number)) - 1;
  const checkpoints = readdirSync(out).filter((n) => n.startsWith('checkpoint-'));
  assert.ok(checkpoints.includes(`checkpoint-${lastGood}`), `checkpoints: ${checkpoints.join(', ')}`);
  assert.ok(checkpoints.every((n) => Number(n.slice('checkpoint-'.length)) <= lastGood), checkpoints.join(', '));
  assert.equal(verifyCheckpoint(join(out, `checkpoint-${lastGood}`)).ok, true);
  assert.match(r.stderr, new RegExp(`checkpoint-${lastGood} is untouched`));
});
