import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema, type RetuneConfig } from '../../src/config/schema.js';
import { initialHistory, lrForStep, scheduleSpecFor } from '../../src/train/lr-history.js';
import { lrAt } from '../../src/optim/schedule.js';
import { formatResumePlan, planResume, type ResumeInput } from '../../src/train/resume-plan.js';
import type { TrainState } from '../../src/train/state.js';

function config(extra: Record<string, unknown> = {}): RetuneConfig {
  return configSchema.parse({
    model_name_or_path: 'm', dataset: 'd', output_dir: 'out', do_train: true, finetuning_type: 'lora',
    learning_rate: 1e-3, lr_scheduler_type: 'cosine', num_train_epochs: 2, per_device_train_batch_size: 2,
    gradient_accumulation_steps: 2, ...extra,
  });
}

// A run of 2 epochs over 20 samples with effective batch 4: 10 steps, saved at step 6 (epoch 1, sample 4).
function state(old: RetuneConfig): TrainState {
  return {
    format: 'retune-train-state', version: 1, global_step: 6, total_steps: 10, epoch: 1.2,
    sampler: { epoch: 1, consumed: 4 }, dataset: { fingerprint: 'abc', size: 20 }, samples_seen: 24,
    tokens_seen: 1000, rng: null, schedule: initialHistory(old, 10), events: [], bad_steps: 0, log_window: { loss_sum: 0, steps: 0 },
    run_loss: { sum: 0, steps: 0 },
    optimizer: { kind: 'adamw', step: 6 }, control: { offset: 0, pending: [] }, kernel_path: 'avx2',
  };
}

function input(old: RetuneConfig, next: RetuneConfig, fingerprint = 'abc', size = 20): ResumeInput {
  return {
    checkpoint: { name: 'checkpoint-6', path: 'out/checkpoint-6', weightsOnly: false },
    oldConfig: old, state: state(old), newConfig: next, dataset: { fingerprint, size }, kernelPath: 'avx2',
  };
}

test('an unchanged resume keeps the schedule, the cursor and the total steps', () => {
  const old = config();
  const plan = planResume(input(old, config()));
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.rows, []);
  assert.equal(plan.totalSteps, 10);
  assert.deepEqual(plan.sampler, { epoch: 1, consumed: 4 });
  assert.deepEqual(plan.schedule, state(old).schedule);
  assert.equal(plan.resetOptimizer, false);
  assert.match(formatResumePlan(plan), /no change that affects training/);
});

test('bookkeeping changes are listed as information and never refused, even under strict', () => {
  const plan = planResume(input(config(), config({ save_steps: 3, logging_steps: 1, resume_policy: 'strict' })));
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.rows, []);
  assert.deepEqual(plan.info.map((r) => r.field), ['eval_steps', 'logging_steps', 'resume_policy', 'save_steps']);
  assert.match(formatResumePlan(plan), /bookkeeping \(free to change under every policy, the math is unchanged\):\n(.*\n)*    save_steps: 500 -> 3/);
});

test('policy config: a lower LR joins by resume_lr_mode and the plan prints the next LRs', () => {
  const old = config();
  const plan = planResume(input(old, config({ learning_rate: 1e-4, resume_lr_mode: 'absolute' })));
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.rows.map((r) => [r.field, r.old, r.new]), [['learning_rate', 1e-3, 1e-4]]);
  assert.equal(lrForStep(plan.schedule, 6), lrAt(scheduleSpecFor(plan.config, 10), 6));
  assert.equal(lrForStep(plan.schedule, 5), lrAt(scheduleSpecFor(old, 10), 5));
  const text = formatResumePlan(plan);
  assert.match(text, /learning_rate: 0\.001 -> 0\.0001: absolute/);
  assert.ok(text.includes(`7: ${lrAt(scheduleSpecFor(plan.config, 10), 6).toExponential(3)}`), text);
  assert.match(text, /\*/);
});

test('policy checkpoint: the saved values run and the differences are listed as ignored', () => {
  const old = config();
  const plan = planResume(input(old, config({ learning_rate: 1e-4, resume_policy: 'checkpoint', save_steps: 2 })));
  assert.equal(plan.refusal, null);
  assert.equal(plan.config.learning_rate, 1e-3);
  assert.equal(plan.config.save_steps, 2);
  assert.match(plan.rows[0].effect, /ignored/);
  assert.deepEqual(plan.schedule, state(old).schedule);
});

test('policy strict: any math difference or a new dataset refuses, naming the fields', () => {
  const plan = planResume(input(config(), config({ learning_rate: 1e-4, weight_decay: 0.1, resume_policy: 'strict' })));
  assert.match(plan.refusal ?? '', /strict.*learning_rate 0\.001 -> 0\.0001; weight_decay 0 -> 0\.1/);
  const data = planResume(input(config(), config({ resume_policy: 'strict' }), 'xyz'));
  assert.match(data.refusal ?? '', /dataset fingerprint/);
});

test('structural changes refuse under every policy and suggest a warm start', () => {
  for (const policy of ['config', 'checkpoint', 'strict']) {
    const plan = planResume(input(config(), config({ lora_rank: 16, resume_policy: policy })));
    assert.match(plan.refusal ?? '', /lora_rank 8 -> 16.*adapter_name_or_path: out\/checkpoint-6 and a new output_dir/);
  }
  const full = planResume(input(config({ finetuning_type: 'full' }), config({ finetuning_type: 'lora' })));
  assert.match(full.refusal ?? '', /finetuning_type full -> lora.*model_name_or_path: out\/checkpoint-6/);
});

test('a weights-only checkpoint cannot resume but can warm-start', () => {
  const old = config();
  const plan = planResume({
    ...input(old, config({ max_steps: 20 })), state: null, checkpoint: { name: 'checkpoint-6', path: 'c', weightsOnly: true },
  });
  assert.match(plan.refusal ?? '', /save_only_model.*warm-start/);
  assert.match(formatResumePlan(plan), /max_steps: -1 -> 20: not applied/);
});

test('batch size and accumulation changes keep the sample cursor and the number of epochs', () => {
  const plan = planResume(input(config(), config({ per_device_train_batch_size: 1, gradient_accumulation_steps: 1 })));
  assert.deepEqual(plan.effectiveBatch, { old: 4, new: 1 });
  assert.deepEqual(plan.sampler, { epoch: 1, consumed: 4 });
  assert.equal(plan.totalSteps, 6 + 16);
  assert.match(plan.rows[0].effect, /effective batch 4 -> 1/);
});

test('a changed dataset restarts the epoch order at the next epoch and recomputes the steps', () => {
  const plan = planResume(input(config(), config(), 'new', 12));
  assert.equal(plan.datasetChanged, true);
  assert.deepEqual(plan.sampler, { epoch: 2, consumed: 0 });
  assert.equal(plan.totalSteps, 6);
  assert.equal(plan.finished, true);
  assert.match(formatResumePlan(plan), /epoch order restarts[\s\S]*nothing to train/);
});

test('raising the epochs after a finished run continues training', () => {
  const old = config();
  const done: ResumeInput = { ...input(old, config({ num_train_epochs: 4 })) };
  done.state = { ...state(old), global_step: 10, sampler: { epoch: 2, consumed: 0 } };
  const plan = planResume(done);
  assert.equal(plan.finished, false);
  assert.equal(plan.totalSteps, 20);
  assert.ok(lrForStep(plan.schedule, 10) > 0);
});

test('reset_optimizer_state and a switch to SGD drop the moments', () => {
  assert.equal(planResume(input(config(), config({ reset_optimizer_state: true }))).resetOptimizer, true);
  assert.equal(planResume(input(config(), config({ optim: 'sgd' }))).resetOptimizer, true);
  assert.equal(planResume(input(config(), config({ optim: 'adamw_hf' }))).resetOptimizer, false);
});

test('every row takes its class from the schema: numerics apply, chat keys change nothing, under checkpoint policy too', () => {
  const next = { lora_dropout: 0.1, bf16: true, temperature: 0.5, neat_packing: true };
  const plan = planResume(input(config(), config(next)));
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.rows.map((r) => [r.field, r.kind, r.effect]), [
    ['bf16', 'numerics', 'applies from step 7'],
    ['lora_dropout', 'numerics', 'applies from step 7'],
    ['neat_packing', 'data', 'the tokenized dataset is unchanged (same fingerprint)'],
  ]);
  assert.deepEqual(plan.info.map((r) => [r.field, r.kind]), [['temperature', 'no-effect']]);
  const kept = planResume(input(config(), config({ ...next, resume_policy: 'checkpoint' })));
  assert.equal(kept.config.lora_dropout, 0);
  assert.equal(kept.config.bf16, false);
  assert.equal(kept.config.temperature, 0.5);
});

test('preprocessing_num_workers and preprocessing_batch_size lay out the rows: data changes, kept under policy checkpoint', () => {
  const next = { preprocessing_num_workers: 2, preprocessing_batch_size: 100 };
  const plan = planResume(input(config(), config(next), 'def', 19));
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.rows.map((r) => [r.field, r.kind]), [['preprocessing_batch_size', 'data'], ['preprocessing_num_workers', 'data']]);
  assert.deepEqual(plan.info, []);
  assert.match(formatResumePlan(plan), /preprocessing_num_workers: null -> 2: training data changes \(20 -> 19 samples\)/);
  const kept = planResume(input(config(), config({ ...next, resume_policy: 'checkpoint' })));
  assert.equal(kept.config.preprocessing_num_workers, null);
  assert.equal(kept.config.preprocessing_batch_size, 1000);
});

test('a new kernel path is an information row, never a refusal, and nothing else in the plan moves', () => {
  const same = planResume(input(config(), config({ resume_policy: 'strict' })));
  assert.equal(same.kernelPath, null);
  assert.doesNotMatch(formatResumePlan(same), /kernel path/);
  for (const policy of ['config', 'checkpoint', 'strict']) {
    const unchanged = input(config(), config({ resume_policy: policy }));
    const moved = planResume({ ...unchanged, kernelPath: 'avx512' });
    assert.deepEqual(moved.kernelPath, { old: 'avx2', new: 'avx512' });
    assert.equal(moved.refusal, null);
    assert.deepEqual(moved.rows, []);
    assert.deepEqual({ ...moved, kernelPath: null }, planResume(unchanged));
    assert.match(formatResumePlan(moved),
      /^ {2}kernel path avx2 -> avx512: bits may differ from an uninterrupted run; nothing else changes$/m);
  }
  // A checkpoint from before the path was recorded: nothing to compare.
  const unrecorded = input(config(), config());
  delete (unrecorded.state as TrainState).kernel_path;
  assert.equal(planResume({ ...unrecorded, kernelPath: 'avx512' }).kernelPath, null);
});

test('a full bf16 checkpoint from before bf16 mixed precision gets an information row, never a refusal', () => {
  const full = config({ finetuning_type: 'full', bf16: true });
  const older = input(full, full);
  delete (older.state as TrainState).bf16_copies;
  const plan = planResume(older);
  assert.equal(plan.predatesBf16Copies, true);
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.rows, []);
  assert.match(formatResumePlan(plan), /^ {2}bf16: the checkpoint predates bf16 mixed precision .* read bf16 copies/m);
  // Recorded (either way), float32, or LoRA (no trained weight has a copy): nothing to say.
  const recorded = input(full, full);
  (recorded.state as TrainState).bf16_copies = true;
  assert.equal(planResume(recorded).predatesBf16Copies, false);
  assert.doesNotMatch(formatResumePlan(planResume(recorded)), /predates/);
  for (const c of [config({ finetuning_type: 'full' }), config({ bf16: true })]) {
    const other = input(c, c);
    delete (other.state as TrainState).bf16_copies;
    assert.equal(planResume(other).predatesBf16Copies, false);
  }
});
