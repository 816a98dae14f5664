// Chart series from trainer_log.jsonl rows: smoothed loss, eval points on the shared step axis, and a step
// logged again after a resume replacing the interrupted run's row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smooth } from '../../src/train/smooth.js';
import { lastEpoch, lastStepRow, runSeries } from '../../web/series.js';

test('runSeries puts train and eval rows on one step axis; a re-logged step replaces the old row', () => {
  const s = runSeries([
    { current_steps: 1, loss: 3, lr: 1e-3, grad_norm: 2 },
    { current_steps: 2, loss: 2.5, lr: 2e-3, grad_norm: 1.5 },
    { current_steps: 2, eval_loss: 2.7 },
    { current_steps: 3, loss: 9, lr: 9e-3, grad_norm: 9 }, // the interrupted run's step 3
    { current_steps: 2, event: 'resume' },
    { current_steps: 3, loss: 2, lr: 5e-4, grad_norm: 1 },
    { current_steps: 4, eval_loss: 2.1 },
  ]);
  assert.deepEqual(s.steps, [1, 2, 3, 4]);
  assert.deepEqual(s.loss, [3, 2.5, 2, null]);
  assert.deepEqual(s.lr, [1e-3, 2e-3, 5e-4, null]);
  assert.deepEqual(s.gradNorm, [2, 1.5, 1, null]);
  assert.deepEqual(s.evalLoss, [null, 2.7, null, 2.1]);
  assert.deepEqual(s.smoothed.map((v) => v === null), [false, false, false, true]);
  assert.deepEqual(s.smoothed.slice(0, 3), smooth([3, 2.5, 2]));
});

test('lastStepRow skips eval and event rows', () => {
  const rows = [{ current_steps: 5, loss: 1 }, { current_steps: 5, eval_loss: 2 }, { current_steps: 5, event: 'saved' }];
  assert.equal(lastStepRow(rows), rows[0]);
  assert.equal(lastStepRow([{ current_steps: 0, event: 'resume' }]), null);
});

test('lastEpoch takes the furthest step that states an epoch, a checkpoint save included', () => {
  const rows = [
    { current_steps: 5, loss: 1, epoch: 0.27 },
    { current_steps: 5, eval_loss: 2, epoch: 0.27 },
    { current_steps: 6, event: 'saved', epoch: 0.32 },
    { current_steps: 6, event: 'stopped' },
  ];
  assert.equal(lastEpoch(rows), 0.32);
  assert.equal(lastEpoch(rows.slice(0, 2)), 0.27);
  assert.equal(lastEpoch([{ current_steps: 3, event: 'resume' }]), null);
});
