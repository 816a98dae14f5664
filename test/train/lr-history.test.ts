import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lrAt } from '../../src/optim/schedule.js';
import {
  initialHistory, joinSchedule, lrCurve, lrForStep, plannedTotalSteps, scheduleSpecFor,
} from '../../src/train/lr-history.js';

const base = {
  lr_scheduler_type: 'cosine' as const,
  learning_rate: 1e-3,
  warmup_steps: 2,
  warmup_ratio: 0,
  lr_scheduler_kwargs: {},
};

test('an unchanged resume records nothing and the LR follows the single HF schedule', () => {
  const history = initialHistory(base, 20);
  assert.equal(joinSchedule(history, 10, base, 20, 'absolute', 0), history);
  const spec = scheduleSpecFor(base, 20);
  for (let t = 0; t < 20; t++) assert.equal(lrForStep(history, t), lrAt(spec, t));
});

test('absolute: the new schedule evaluated at the global step from the resume on', () => {
  const lower = { ...base, learning_rate: 1e-4 };
  const history = joinSchedule(initialHistory(base, 20), 10, lower, 20, 'absolute', 0);
  assert.equal(history.length, 2);
  for (let t = 0; t < 10; t++) assert.equal(lrForStep(history, t), lrAt(scheduleSpecFor(base, 20), t));
  for (let t = 10; t < 20; t++) assert.equal(lrForStep(history, t), lrAt(scheduleSpecFor(lower, 20), t));
});

test('restart: a fresh schedule, with its warmup, over the remaining steps', () => {
  const restarted = { ...base, learning_rate: 5e-4, lr_scheduler_type: 'linear' as const };
  const history = joinSchedule(initialHistory(base, 20), 8, restarted, 20, 'restart', 0);
  const fresh = scheduleSpecFor(restarted, 12);
  assert.equal(lrForStep(history, 8), 0);
  for (let t = 8; t < 20; t++) assert.equal(lrForStep(history, t), lrAt(fresh, t - 8));
  assert.equal(lrForStep(history, 7), lrAt(scheduleSpecFor(base, 20), 7));
});

test('rewarm: a linear ramp from the old LR at the resume step to the new schedule', () => {
  const raised = { ...base, learning_rate: 2e-3, warmup_steps: 0 };
  const history = joinSchedule(initialHistory(base, 20), 10, raised, 20, 'rewarm', 4);
  const oldLr = lrAt(scheduleSpecFor(base, 20), 10);
  const spec = scheduleSpecFor(raised, 20);
  assert.equal(lrForStep(history, 10), oldLr);
  assert.equal(lrForStep(history, 12), oldLr + ((lrAt(spec, 12) - oldLr) * 2) / 4);
  for (let t = 14; t < 20; t++) assert.equal(lrForStep(history, t), lrAt(spec, t));
});

test('a second resume with the same config replays the same history, even after a restart', () => {
  const changed = { ...base, learning_rate: 3e-4 };
  for (const mode of ['absolute', 'rewarm', 'restart'] as const) {
    const once = joinSchedule(initialHistory(base, 20), 6, changed, 20, mode, 3);
    const twice = joinSchedule(JSON.parse(JSON.stringify(once)), 14, changed, 20, mode, 3);
    assert.equal(twice.length, 2, mode);
    for (let t = 0; t < 20; t++) assert.equal(lrForStep(twice, t), lrForStep(once, t), `${mode} step ${t}`);
  }
});

test('raising the epochs of a finished run extends the schedule', () => {
  const history = initialHistory(base, 10);
  const extended = joinSchedule(history, 10, base, 30, 'absolute', 0);
  assert.equal(extended.length, 2);
  assert.ok(lrForStep(extended, 10) > 0);
  assert.equal(lrForStep(extended, 15), lrAt(scheduleSpecFor(base, 30), 15));
});

test('plannedTotalSteps keeps the epoch count when the effective batch changes mid-run', () => {
  const cfg = { max_steps: -1, num_train_epochs: 3, per_device_train_batch_size: 2, gradient_accumulation_steps: 2 };
  assert.equal(plannedTotalSteps(cfg, 10, { step: 0, samples: 0 }), 8);
  assert.equal(plannedTotalSteps(cfg, 10, { step: 4, samples: 16 }), 8);
  assert.equal(plannedTotalSteps({ ...cfg, per_device_train_batch_size: 1 }, 10, { step: 4, samples: 16 }), 11);
  assert.equal(plannedTotalSteps({ ...cfg, num_train_epochs: 0.5 }, 10, { step: 0, samples: 0 }), 2);
  assert.equal(plannedTotalSteps({ ...cfg, max_steps: 7 }, 10, { step: 4, samples: 16 }), 7);
  assert.equal(plannedTotalSteps(cfg, 10, { step: 8, samples: 32 }), 8);
});

test('lrCurve samples the history at integer steps including both ends', () => {
  const history = initialHistory(base, 100);
  const curve = lrCurve(history, 0, 100, 5);
  assert.deepEqual(curve.map((p) => p.step), [0, 25, 50, 74, 99]);
  assert.equal(curve[2].lr, lrForStep(history, 50));
  assert.deepEqual(lrCurve(history, 98, 100, 10).map((p) => p.step), [98, 99]);
});
