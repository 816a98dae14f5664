// Config changes between a checkpoint and its resume behave as the printed plan says: batch size and accumulation
// keep the sample cursor and the epoch count, a new dataset restarts the epoch order, schedule type and warmup take
// over at the resume step, raised epochs continue a finished run, and a new LoRA rank refuses with a warm-start hint
// that works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lrAt } from '../../src/optim/schedule.js';
import { explain, stepRows, tempDir, train, writeConfig, type RunResult } from '../train/run-helpers.js';

// 20 samples, effective batch 4, 10 steps over 2 epochs; checkpoint-4 sits at sample 16 of epoch 0.
const sourceDir = tempDir('changes-source');
const sourceCfg = writeConfig(sourceDir, { save_steps: 4 });
const source: Promise<RunResult> = train(sourceCfg);
const checkpoint = join(sourceDir, 'out', 'checkpoint-4');

async function resumeWith(name: string, overrides: string[]): Promise<{ r: RunResult; out: string }> {
  const first = await source;
  assert.equal(first.code, 0, explain(first));
  const out = join(tempDir(name), 'out');
  const r = await train(sourceCfg, [`output_dir=${out}`, `resume_from_checkpoint=${checkpoint}`, ...overrides]);
  return { r, out };
}

function row(out: string, step: number): { total_steps: number; epoch: number; lr: number } {
  const found = stepRows(out).get(step);
  assert.ok(found, `no log row for step ${step}`);
  return found;
}

test('smaller batch: same sample cursor, more steps for the same 2 epochs', async () => {
  const { r, out } = await resumeWith('changes-batch', ['per_device_train_batch_size=1']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /effective batch 4 -> 2; the data cursor counts samples, so it stays at sample 16 of epoch 0/);
  assert.match(r.stdout, /Resume plan: checkpoint-4, step 4 of 16/);
  assert.deepEqual(row(out, 5), { ...row(out, 5), total_steps: 16, epoch: 0.9 });
  assert.equal(row(out, 16).epoch, 2);
  assert.equal(stepRows(out).has(17), false);
});

test('more accumulation: effective batch 8 finishes the epochs in fewer steps', async () => {
  const { r, out } = await resumeWith('changes-accum', ['gradient_accumulation_steps=4']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /effective batch 4 -> 8/);
  assert.equal(row(out, 5).epoch, 1.2);
  assert.equal(row(out, 7).total_steps, 7);
  assert.equal(row(out, 7).epoch, 2);
});

test('another dataset: the plan says the epoch order restarts, and epoch 1 starts at its first sample', async () => {
  const { r, out } = await resumeWith('changes-data', ['dataset=animals_more']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /training data changes \(20 -> 14 samples\): epoch 1 starts from its first sample/);
  assert.match(r.stdout, /dataset fingerprint changed/);
  assert.equal(row(out, 5).epoch, 1 + 4 / 14);
  assert.equal(row(out, 8).total_steps, 8);
});

test('schedule type and warmup: the new schedule runs from the resume step', async () => {
  const { r, out } = await resumeWith('changes-schedule', ['lr_scheduler_type=linear', 'warmup_steps=6']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /lr_scheduler_type: cosine -> linear: absolute/);
  const spec = { type: 'linear', baseLr: 1e-2, totalSteps: 10, warmupSteps: 6, kwargs: {} };
  for (let step = 5; step <= 10; step++) assert.equal(row(out, step).lr, lrAt(spec, step - 1), `step ${step}`);
  assert.equal(row(out, 5).lr, 1e-2 * (4 / 6));
});

test('raising num_train_epochs after a finished run continues it', async () => {
  const first = await source;
  assert.equal(first.code, 0, explain(first));
  const dir = tempDir('changes-epochs');
  cpSync(join(sourceDir, 'out'), join(dir, 'out'), { recursive: true });
  const again = await train(sourceCfg, [`output_dir=${join(dir, 'out')}`]);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /nothing to train: the run already reached 10 steps/);
  const r = await train(sourceCfg, [`output_dir=${join(dir, 'out')}`, 'num_train_epochs=3']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /Resume plan: checkpoint-10, step 10 of 15/);
  assert.match(r.stdout, /num_train_epochs: 2 -> 3/);
  assert.equal(row(join(dir, 'out'), 15).epoch, 3);
});

test('a new LoRA rank refuses, and the suggested warm start trains', async () => {
  const { r, out } = await resumeWith('changes-rank', ['lora_rank=8']);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /lora_rank 4 -> 8 changes the structure.*warm-start with adapter_name_or_path: .*checkpoint-4/);
  assert.equal(existsSync(join(out, 'trainer_log.jsonl')), false);

  const warmOut = join(tempDir('changes-warm'), 'out');
  const warm = await train(sourceCfg, [`output_dir=${warmOut}`, `adapter_name_or_path=${checkpoint}`, 'max_steps=2']);
  assert.equal(warm.code, 0, explain(warm));
  assert.match(warm.stdout, /fresh run/);
  assert.ok(existsSync(join(warmOut, 'adapter_model.safetensors')));
});

test('reset_optimizer_state: the plan says the moments are dropped, and the step count of AdamW restarts', async () => {
  const { r, out } = await resumeWith('changes-reset', ['reset_optimizer_state=true']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /optimizer state dropped/);
  const state = JSON.parse(readFileSync(join(out, 'checkpoint-10', 'train_state.json'), 'utf8'));
  assert.deepEqual(state.optimizer, { kind: 'adamw', step: 6 });
  assert.equal(state.global_step, 10);
});
