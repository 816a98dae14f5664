// What you configure is what runs: after a resume with a changed learning rate, the logged LR of every later step is
// the new schedule as resume_lr_mode joins it; resume_policy checkpoint keeps the old schedule; strict refuses before
// training, naming the fields. Every resume starts from the same checkpoint-4 of one 10-step cosine run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { lrAt, type ScheduleSpec } from '../../src/optim/schedule.js';
import { explain, stepRows, tempDir, train, writeConfig, type RunResult } from '../train/run-helpers.js';

const sourceDir = tempDir('lr-source');
const sourceCfg = writeConfig(sourceDir, { save_steps: 4 });
const source: Promise<RunResult> = train(sourceCfg);
const checkpoint = join(sourceDir, 'out', 'checkpoint-4');

// The schedule of writeConfig's defaults (cosine, 2 warmup steps, 10 steps) at another peak LR.
function cosine(baseLr: number, totalSteps = 10): ScheduleSpec {
  return { type: 'cosine', baseLr, totalSteps, warmupSteps: 2, kwargs: {} };
}

async function resumeWith(name: string, overrides: string[]): Promise<{ r: RunResult; out: string }> {
  const first = await source;
  assert.equal(first.code, 0, explain(first));
  const dir = tempDir(name);
  const out = join(dir, 'out');
  const r = await train(sourceCfg, [`output_dir=${out}`, `resume_from_checkpoint=${checkpoint}`, ...overrides]);
  return { r, out };
}

function loggedLrs(out: string, from: number, to: number): number[] {
  const rows = stepRows(out);
  const lrs: number[] = [];
  for (let step = from; step <= to; step++) lrs.push((rows.get(step) as { lr: number }).lr);
  return lrs;
}

test('source run logs the HF cosine schedule', async () => {
  const r = await source;
  assert.equal(r.code, 0, explain(r));
  const expected = Array.from({ length: 10 }, (_, t) => lrAt(cosine(1e-2), t));
  assert.deepEqual(loggedLrs(join(sourceDir, 'out'), 1, 10), expected);
});

test('absolute: a lower LR is the new schedule evaluated at each later step', async () => {
  const { r, out } = await resumeWith('lr-absolute', ['learning_rate=1e-3', 'resume_lr_mode=absolute']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /learning_rate: 0\.01 -> 0\.001: absolute/);
  assert.deepEqual(loggedLrs(out, 5, 10), [4, 5, 6, 7, 8, 9].map((t) => lrAt(cosine(1e-3), t)));
});

test('rewarm: a higher LR is reached by a linear ramp from the old LR', async () => {
  const { r, out } = await resumeWith('lr-rewarm', ['learning_rate=2e-2', 'resume_lr_mode=rewarm', 'resume_warmup_steps=3']);
  assert.equal(r.code, 0, explain(r));
  const from = lrAt(cosine(1e-2), 4);
  const expected = [4, 5, 6, 7, 8, 9].map((t) => {
    const target = lrAt(cosine(2e-2), t);
    return t - 4 < 3 ? from + ((target - from) * (t - 4)) / 3 : target;
  });
  assert.deepEqual(loggedLrs(out, 5, 10), expected);
});

test('restart: a fresh schedule over the remaining steps, and a second resume replays it', async () => {
  const { r, out } = await resumeWith('lr-restart', ['learning_rate=1e-3', 'resume_lr_mode=restart', 'save_steps=2']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /restart: a fresh schedule over the remaining 6 steps/);
  const expected = [0, 1, 2, 3, 4, 5].map((t) => lrAt(cosine(1e-3, 6), t));
  assert.deepEqual(loggedLrs(out, 5, 10), expected);

  const again = await train(sourceCfg, [
    `output_dir=${out}`, `resume_from_checkpoint=${join(out, 'checkpoint-8')}`, 'learning_rate=1e-3',
    'resume_lr_mode=restart',
  ]);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /config: no change that affects training/);
  assert.deepEqual(loggedLrs(out, 9, 10), expected.slice(4));
});

test('resume_policy checkpoint: the saved schedule runs and the new LR is listed as ignored', async () => {
  const { r, out } = await resumeWith('lr-checkpoint', ['learning_rate=1e-3', 'resume_policy=checkpoint']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /learning_rate: 0\.01 -> 0\.001: ignored/);
  const straight = stepRows(join(sourceDir, 'out'));
  const resumed = stepRows(out);
  for (let step = 5; step <= 10; step++) assert.deepEqual(resumed.get(step), straight.get(step), `step ${step}`);
});

test('resume_policy strict: exits non-zero before training, listing every changed field', async () => {
  const { r, out } = await resumeWith('lr-strict', ['learning_rate=1e-3', 'weight_decay=0.1', 'resume_policy=strict']);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr + r.stdout, /learning_rate 0\.01 -> 0\.001; weight_decay 0 -> 0\.1/);
  assert.equal(existsSync(join(out, 'trainer_log.jsonl')), false);
});
