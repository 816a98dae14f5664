// `retune control`: a learning-rate change sent to a running `retune train` takes effect from the step the trainer
// acknowledges, survives SIGTERM and resume (the checkpoint's LR history replays it), and the interrupted-and-resumed
// run equals an uninterrupted run given the same change at the same recorded step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lrAt } from '../../src/optim/schedule.js';
import { runCli } from './run-cli.js';
import { explain, logRows, startTrain, stepRows, tempDir, train, waitForOutput, writeConfig } from '../train/run-helpers.js';

// 200 steps of effective batch 4 over the 20-sample fixture (40 epochs), cosine with 2 warmup steps.
const RUN = { num_train_epochs: 40, save_steps: 1000 };
const NEW_LR = 2e-3;
const RAMP = 3;

function cosineLr(t: number): number {
  return lrAt({ type: 'cosine', baseLr: 1e-2, totalSteps: 200, warmupSteps: 2, kwargs: {} }, t);
}

test('an LR change on a running train applies from the acknowledged step, survives stop + resume, and equals a run with the change recorded up front', async () => {
  const dirA = tempDir('control-live');
  const cfgA = writeConfig(dirA, RUN);
  const outA = join(dirA, 'out');
  const run = startTrain(cfgA);
  await waitForOutput(run.child, /step 3\/200/);
  const sent = runCli(['control', outA, `lr=${NEW_LR}`, `ramp=${RAMP}`]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /applied: steps from \d+ on run with it/);
  const ack = logRows(outA).find((r) => r.event === 'lr_change') as { current_steps: number; id: string; first_step: number };
  const at = ack.current_steps;
  assert.equal(ack.first_step, at + 1);
  assert.ok(at < 150, `applied at step ${at}, too late to test a stop and resume after it`);
  await waitForOutput(run.child, new RegExp(`step ${at + RAMP + 2}/200`));
  run.child.kill('SIGTERM');
  const stopped = await run.done;
  assert.equal(stopped.signal, 'SIGTERM', explain(stopped));
  const stoppedAt = Math.max(...stepRows(outA).keys());
  assert.ok(stoppedAt < 200, 'the run stopped before its end');

  const resumed = await train(cfgA);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.match(resumed.stdout, /config: no change that affects training/);

  // Logged LRs: the schedule up to the change, a ramp from the LR step at + 1 would have had, then the new LR.
  const rowsA = stepRows(outA);
  for (let step = 1; step <= 200; step++) {
    const t = step - 1;
    const from = cosineLr(at);
    const expected = t < at ? cosineLr(t) : t - at < RAMP ? from + ((NEW_LR - from) * (t - at)) / RAMP : NEW_LR;
    assert.equal(rowsA.get(step)?.lr, expected, `lr of step ${step}`);
  }

  // The same change written before an uninterrupted run, to apply at the recorded step.
  const dirB = tempDir('control-upfront');
  const cfgB = writeConfig(dirB, RUN);
  const outB = join(dirB, 'out');
  const control = JSON.stringify({ type: 'lr', id: ack.id, lr: NEW_LR, ramp: RAMP, at });
  mkdirSync(outB);
  writeFileSync(join(outB, 'control.jsonl'), `${control}\n`);
  const straight = await train(cfgB);
  assert.equal(straight.code, 0, explain(straight));
  assert.deepEqual([...stepRows(outA).values()], [...stepRows(outB).values()]);
  const weights = (out: string): Buffer => readFileSync(join(out, 'adapter_model.safetensors'));
  assert.ok(weights(outA).equals(weights(outB)), 'resumed run and uninterrupted run end with the same adapter');
});

test('retune control refuses a bad value and a missing output_dir with exit 2', () => {
  const dir = tempDir('control-bad');
  const bad = runCli(['control', dir, 'lr=fast']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /lr: expected a number >= 0, got fast/);
  const missing = runCli(['control', join(dir, 'nope'), 'lr=1e-4']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such output_dir/);
  const queued = runCli(['control', dir, 'lr=1e-4']);
  assert.equal(queued.code, 0);
  assert.match(queued.stdout, /no run is training in .*: it applies when the run resumes/);
});
