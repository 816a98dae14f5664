// What `retune train` prints and writes around the training itself: --dry-run plans without training, weights-only
// checkpoints cannot resume, trainer_state.json follows HF's schema, pre-training runs, and a foreign output_dir is
// never trained into without overwrite_output_dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyCheckpoint } from '../../src/train/checkpoint.js';
import { explain, logRows, stepRows, tempDir, train, writeConfig } from '../train/run-helpers.js';

test('--dry-run of a fresh run prints the plan and LR curve and writes nothing', async () => {
  const dir = tempDir('dry-fresh');
  const r = await train(writeConfig(dir), ['--dry-run']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /Training plan: fresh run in .*, 20 samples, effective batch 4 \(2 x 2\), 10 steps/);
  assert.match(r.stdout, /LR of the next steps: 1: 0\.000e\+0, 2: 5\.000e-3, 3: 1\.000e-2/);
  assert.match(r.stdout, /LR over steps 1\.\.10:\n\s+1\.0e-2 \+/);
  assert.equal(existsSync(join(dir, 'out')), false);
});

test('--dry-run of a resume prints the plan and trains nothing; then the run does what it said', async () => {
  const dir = tempDir('dry-resume');
  const cfg = writeConfig(dir);
  const first = await train(cfg, ['max_steps=4']);
  assert.equal(first.code, 0, explain(first));
  const before = readFileSync(join(dir, 'out', 'trainer_log.jsonl'), 'utf8');
  const dry = await train(cfg, ['--dry-run', 'learning_rate=5e-3']);
  assert.equal(dry.code, 0, explain(dry));
  assert.match(dry.stdout, /Resume plan: checkpoint-4, step 4 of 10/);
  assert.match(dry.stdout, /learning_rate: 0\.01 -> 0\.005: absolute/);
  assert.match(dry.stdout, /max_steps: 4 -> -1: absolute/);
  const nextLr = /LR of the next steps: 5: ([^,]+),/.exec(dry.stdout)?.[1];
  assert.equal(readFileSync(join(dir, 'out', 'trainer_log.jsonl'), 'utf8'), before);
  assert.deepEqual(readdirSync(join(dir, 'out')).filter((n) => n.startsWith('checkpoint-')), ['checkpoint-4']);

  const real = await train(cfg, ['learning_rate=5e-3']);
  assert.equal(real.code, 0, explain(real));
  assert.equal(stepRows(join(dir, 'out')).get(5)?.lr.toExponential(3), nextLr);
});

test('save_only_model checkpoints are weights-only: resuming refuses with a warm-start hint', async () => {
  const dir = tempDir('weights-only');
  const cfg = writeConfig(dir, { save_only_model: true });
  const first = await train(cfg, ['max_steps=2']);
  assert.equal(first.code, 0, explain(first));
  const ckpt = join(dir, 'out', 'checkpoint-2');
  const v = verifyCheckpoint(ckpt);
  assert.ok(v.ok && v.manifest.weightsOnly);
  assert.equal(existsSync(join(ckpt, 'optimizer.safetensors')), false);
  assert.ok(existsSync(join(ckpt, 'adapter_model.safetensors')) && existsSync(join(ckpt, 'tokenizer.json')));
  const again = await train(cfg, ['max_steps=4']);
  assert.equal(again.code, 2, explain(again));
  assert.match(again.stderr, /checkpoint-2: it was saved with save_only_model.*adapter_name_or_path: .*checkpoint-2/);
});

test('trainer_state.json follows the HF schema and keeps its log history across a resume', async () => {
  const dir = tempDir('hf-state');
  const cfg = writeConfig(dir, { logging_steps: 2 });
  assert.equal((await train(cfg, ['max_steps=4'])).code, 0);
  const r = await train(cfg, ['max_steps=6']);
  assert.equal(r.code, 0, explain(r));
  const state = JSON.parse(readFileSync(join(dir, 'out', 'checkpoint-6', 'trainer_state.json'), 'utf8'));
  assert.equal(state.global_step, 6);
  assert.equal(state.max_steps, 6);
  assert.equal(state.logging_steps, 2);
  assert.equal(state.train_batch_size, 2);
  assert.equal(state.best_metric, null);
  assert.equal(state.epoch, 1.2);
  assert.deepEqual(state.log_history.map((e: { step: number }) => e.step), [2, 4, 6]);
  const logged = logRows(join(dir, 'out')).filter((row) => typeof row.loss === 'number');
  assert.deepEqual(state.log_history.map((e: { loss: number }) => e.loss), logged.map((row) => row.loss));
  assert.ok(existsSync(join(dir, 'out', 'trainer_state.json')));
});

test('pre-training (stage pt) on a text file trains and saves', async () => {
  const dir = tempDir('pt');
  const r = await train(writeConfig(dir, { stage: 'pt', dataset: 'story', max_steps: 2, cutoff_len: 32 }));
  assert.equal(r.code, 0, explain(r));
  const rows = stepRows(join(dir, 'out'));
  assert.equal(rows.size, 2);
  assert.ok(Number.isFinite(rows.get(2)?.loss) && (rows.get(2)?.total_tokens ?? 0) > 0);
  assert.equal(verifyCheckpoint(join(dir, 'out', 'checkpoint-2')).ok, true);
});

test('an output_dir holding other files and no checkpoint is refused unless overwrite_output_dir', async () => {
  const dir = tempDir('foreign');
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'out', 'notes.txt'), 'mine');
  const cfg = writeConfig(dir, { max_steps: 1 });
  const r = await train(cfg);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /output_dir .* is not empty \(notes\.txt\).*overwrite_output_dir/);
  const forced = await train(cfg, ['overwrite_output_dir=true']);
  assert.equal(forced.code, 0, explain(forced));
  assert.equal(readFileSync(join(dir, 'out', 'notes.txt'), 'utf8'), 'mine');
});

test('save_strategy and eval_strategy epoch act at each epoch boundary', async () => {
  const dir = tempDir('epoch');
  const cfg = writeConfig(dir, { save_strategy: 'epoch', eval_strategy: 'epoch', val_size: 4, num_train_epochs: 3 });
  const r = await train(cfg);
  assert.equal(r.code, 0, explain(r));
  const out = join(dir, 'out');
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort(),
    ['checkpoint-12', 'checkpoint-4', 'checkpoint-8']);
  assert.deepEqual(logRows(out).filter((row) => typeof row.eval_loss === 'number').map((row) => row.current_steps), [4, 8, 12]);
});
