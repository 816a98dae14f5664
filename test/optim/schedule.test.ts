import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describeSchedule, lrAt, sampleCurve, SCHEDULE_TYPES, warmupStepsFor, type ScheduleSpec } from '../../src/optim/schedule.js';
import { UsageError } from '../../src/util/errors.js';

interface GoldenCase extends ScheduleSpec {
  lrs: number[]; // transformers.get_scheduler's LR at every step 0..totalSteps+4 (test/fixtures/optim/generate.py)
}

const golden: GoldenCase[] = JSON.parse(readFileSync('test/fixtures/optim/schedules.json', 'utf8'));

// HF computes in Python floats (doubles) with the same operation order, so only the last ulp of Math.cos vs libm
// cos may differ.
function assertClose(actual: number, expected: number, what: string): void {
  const tolerance = 1e-12 * Math.abs(expected);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: got ${actual}, HF ${expected}`);
}

test('every schedule matches transformers.get_scheduler at every step, including past the end', () => {
  const covered = new Set<string>();
  for (const c of golden) {
    const spec: ScheduleSpec = { type: c.type, baseLr: c.baseLr, totalSteps: c.totalSteps, warmupSteps: c.warmupSteps, kwargs: c.kwargs };
    c.lrs.forEach((expected, step) => assertClose(lrAt(spec, step), expected, `${describeSchedule(spec)} step ${step}`));
    covered.add(c.type);
  }
  assert.deepEqual([...covered].sort(), [...SCHEDULE_TYPES].sort());
});

test('warmup: whole warmup_steps win, fractions and warmup_ratio round up like HF get_warmup_steps', () => {
  assert.equal(warmupStepsFor({ warmup_steps: 7, warmup_ratio: 0.5 }, 100), 7);
  assert.equal(warmupStepsFor({ warmup_steps: 0, warmup_ratio: 0.1 }, 95), 10);
  assert.equal(warmupStepsFor({ warmup_steps: 0.05, warmup_ratio: 0 }, 30), 2);
  // 100 * 0.07 is 7.000000000000001 in doubles; Python's math.ceil gives 8 and so do we.
  assert.equal(warmupStepsFor({ warmup_steps: 0, warmup_ratio: 0.07 }, 100), 8);
  assert.equal(warmupStepsFor({ warmup_steps: 0, warmup_ratio: 0 }, 100), 0);
});

const cosine: ScheduleSpec = { type: 'cosine', baseLr: 1e-3, totalSteps: 100, warmupSteps: 10, kwargs: {} };

test('bad specs are refused with the config key named', () => {
  const cases: [Partial<ScheduleSpec>, RegExp][] = [
    [{ type: 'reduce_lr_on_plateau' }, /lr_scheduler_type: reduce_lr_on_plateau is not supported/],
    [{ type: 'cosine_annealing' }, /unknown schedule 'cosine_annealing'/],
    [{ type: 'toString' }, /unknown schedule 'toString'/],
    [{ kwargs: { min_lr: 1e-5 } }, /lr_scheduler_kwargs.min_lr is not a parameter of cosine \(accepts: num_cycles\)/],
    [{ kwargs: { num_cycles: 'two' } }, /lr_scheduler_kwargs.num_cycles must be a number/],
    [{ type: 'cosine_with_min_lr' }, /needs lr_scheduler_kwargs.min_lr or lr_scheduler_kwargs.min_lr_rate/],
    [{ type: 'cosine_with_min_lr', kwargs: { min_lr: 1e-5, min_lr_rate: 0.1 } }, /only one of/],
    [{ type: 'cosine_with_min_lr', baseLr: 0, kwargs: { min_lr: 1e-5 } }, /min_lr needs learning_rate > 0/],
    [{ type: 'polynomial', kwargs: { lr_end: 1e-2 } }, /lr_end \(0.01\) must be smaller than learning_rate/],
    [{ type: 'polynomial', totalSteps: 10, warmupSteps: 10 }, /more training steps/],
    [{ type: 'warmup_stable_decay' }, /needs lr_scheduler_kwargs.num_decay_steps/],
    [{ type: 'warmup_stable_decay', kwargs: { num_decay_steps: 5, decay_type: 'exp' } }, /decay_type must be one of/],
    [{ type: 'inverse_sqrt', kwargs: { timescale: 0 } }, /timescale must be > 0/],
    [{ baseLr: Number.NaN }, /learning_rate/],
    [{ warmupSteps: 2.5 }, /warmup steps must be an integer/],
  ];
  for (const [change, message] of cases) {
    const spec = { ...cosine, ...change };
    assert.throws(() => lrAt(spec, 0), (e: unknown) => e instanceof UsageError && message.test(e.message), JSON.stringify(change));
  }
  assert.throws(() => lrAt(cosine, -1), /step must be an integer >= 0/);
});

test('sampleCurve: evenly spaced integer steps from the first to the last, every step when short', () => {
  const curve = sampleCurve(cosine, 5);
  assert.deepEqual(curve.map((p) => p.step), [0, 25, 50, 74, 99]);
  for (const p of curve) assert.equal(p.lr, lrAt(cosine, p.step));
  const short = sampleCurve({ ...cosine, totalSteps: 3 }, 10);
  assert.deepEqual(short.map((p) => p.step), [0, 1, 2]);
});

test('describeSchedule names the type, LR, warmup and kwargs', () => {
  const spec: ScheduleSpec = { ...cosine, type: 'cosine_with_min_lr', kwargs: { min_lr_rate: 0.1, num_cycles: 0.5 } };
  assert.equal(describeSchedule(spec), 'cosine_with_min_lr, lr 0.001, 10 warmup of 100 steps (min_lr_rate=0.1, num_cycles=0.5)');
});
