// control.jsonl as the trainer reads it: only complete lines, bad lines reported and skipped, and an LR change as a
// history segment that keeps the config's schedule as `asked` (so an unchanged resume keeps it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyLrChange, readRequests, requestLrChange } from '../../src/train/control.js';
import { initialHistory, joinSchedule, lrForStep } from '../../src/train/lr-history.js';
import { lrAt } from '../../src/optim/schedule.js';

const config = { lr_scheduler_type: 'cosine' as const, learning_rate: 1e-2, warmup_steps: 2, warmup_ratio: 0, lr_scheduler_kwargs: {} };

test('only complete lines are read; a bad line is reported and skipped; the offset moves past what was read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-control-'));
  assert.deepEqual(readRequests(dir, 0), { requests: [], errors: [], offset: 0 });
  const first = requestLrChange(dir, { lr: 1e-3 });
  appendFileSync(join(dir, 'control.jsonl'), '{"type":"lr","lr":-1}\nnot json\n{"type":"lr","id":"b","lr":2e-3,"ramp":4,"at":7');
  const read = readRequests(dir, 0);
  assert.deepEqual(read.requests, [{ id: first.id, lr: 1e-3, ramp: 0, at: null }]);
  assert.deepEqual(read.errors, ['control.jsonl: lr: expected a number >= 0, got -1', 'control.jsonl: not JSON: not json']);
  appendFileSync(join(dir, 'control.jsonl'), '}\n');
  assert.deepEqual(readRequests(dir, read.offset).requests, [{ id: 'b', lr: 2e-3, ramp: 4, at: 7 }]);
});

test('an LR change is a segment from its step; a resume with the same config keeps it', () => {
  const history = initialHistory(config, 20);
  const changed = applyLrChange(history, 5, { id: 'x', lr: 1e-3, ramp: 2, at: null });
  const from = lrAt(history[0].spec, 5);
  assert.deepEqual([4, 5, 6, 7, 12].map((t) => lrForStep(changed, t)),
    [lrAt(history[0].spec, 4), from, from + (1e-3 - from) / 2, 1e-3, 1e-3]);
  assert.equal(joinSchedule(changed, 9, config, 20, 'absolute', 0), changed);
  const lowered = joinSchedule(changed, 9, { ...config, learning_rate: 5e-3 }, 20, 'absolute', 0);
  assert.equal(lowered.length, 3);
  assert.equal(lrForStep(lowered, 9), lrAt({ ...history[0].spec, baseLr: 5e-3 }, 9));
});
