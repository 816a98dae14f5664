import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDuration, TrainLog } from '../../src/train/logging.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'retune-log-'));
}

test('formatDuration writes H:MM:SS like Python timedelta', () => {
  assert.equal(formatDuration(0), '0:00:00');
  assert.equal(formatDuration(59.6), '0:01:00');
  assert.equal(formatDuration(3725), '1:02:05');
});

test('truncateAfter drops rows of steps after the checkpoint and lines cut short by a kill', () => {
  const dir = tempDir();
  const rows = [1, 2, 3, 4].map((s) => JSON.stringify({ current_steps: s, loss: s }));
  writeFileSync(join(dir, 'trainer_log.jsonl'), rows.join('\n') + '\n{"current_st');
  const log = new TrainLog(dir, 2, () => {}, false);
  assert.equal(log.truncateAfter(2), 3);
  assert.equal(readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8'), rows.slice(0, 2).join('\n') + '\n');
  assert.equal(log.truncateAfter(2), 0);
  assert.deepEqual(log.rows().map((r) => r.current_steps), [1, 2]);
});

test('remaining time counts only the steps this process ran', async () => {
  const log = new TrainLog(tempDir(), 90, () => {}, false);
  assert.equal(log.timing(90, 100).remaining, '0:00:00');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  // One step took about a second here, so ten steps remain at about ten seconds, whatever the 90 resumed steps cost.
  const { remaining } = log.timing(91, 100);
  assert.match(remaining, /^0:00:(09|1\d)$/);
});

test('step rows go to trainer_log.jsonl and a plain line to the printer when not on a TTY', () => {
  const dir = tempDir();
  const lines: string[] = [];
  const log = new TrainLog(dir, 0, (l) => lines.push(l), false);
  log.step({
    current_steps: 1, total_steps: 4, loss: 2.5, lr: 1e-3, grad_norm: 0.5, epoch: 0.25, percentage: 25,
    elapsed_time: '0:00:01', remaining_time: '0:00:03', throughput: 10, total_tokens: 40,
  });
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8')).total_tokens, 40);
  assert.match(lines[0], /^step 1\/4 loss 2\.5000 lr 1\.000e-3 grad_norm 0\.5000 epoch 0\.25 \[0:00:01 < 0:00:03\]$/);
});
