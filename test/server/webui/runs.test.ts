// A training through the Board, as the page drives it: Start spawns `retune train <dir>/training_args.yaml`, the
// event stream delivers trainer_log.jsonl rows as they are written, a live LR change is acknowledged, Stop saves a
// resumable checkpoint, the detail lists verified checkpoints, the plan of a changed LR shows the change and its
// curve, and the resume it starts logs exactly the planned LRs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { call, openEvents, quickstartConfig, quickstartRoot, startBoard } from './board-helpers.js';

const root = quickstartRoot();
const board = await startBoard(root);
test.after(() => board.close());

type Row = { current_steps: number; loss?: number; lr?: number; event?: string; first_step?: number };

test('start, follow, change the LR live, stop, inspect, plan a changed LR, resume exactly as planned', async () => {
  const config = quickstartConfig();
  const command = await call(board, 'POST', '/api/config/command', { config });
  assert.equal(command.status, 200);
  assert.deepEqual(command.body.argv, ['retune', 'train', 'saves/run/training_args.yaml']);
  assert.equal(command.body.command, 'retune train saves/run/training_args.yaml');

  const started = await call(board, 'POST', '/api/runs/start', { config });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  assert.deepEqual(started.body.argv, command.body.argv);
  assert.equal(readFileSync(join(root, 'saves/run/training_args.yaml'), 'utf8'), command.body.yaml);
  const again = await call(board, 'POST', '/api/runs/start', { config });
  assert.equal(again.status, 409);

  const events = await openEvents(board, '/api/runs/events?dir=saves/run');
  await events.waitFor((e) => e.type === 'row' && (e.row as Row).current_steps >= 3);
  assert.ok(events.events.some((e) => e.type === 'log' && /Training plan: fresh run/.test(String(e.line))));

  const control = await call(board, 'POST', '/api/runs/control', { dir: 'saves/run', lr: 1e-3 });
  assert.equal(control.status, 200, JSON.stringify(control.body));
  const ack = (await events.waitFor((e) => e.type === 'row' && (e.row as Row).event === 'lr_change')).row as Row;
  const changedAt = ack.current_steps;
  await events.waitFor((e) => e.type === 'row' && (e.row as Row).current_steps >= changedAt + 2 && (e.row as Row).loss !== undefined);

  const stop = await call(board, 'POST', '/api/runs/stop', { dir: 'saves/run' });
  assert.equal(stop.status, 200);
  const stopped = await events.waitFor((e) => e.type === 'status' && (e.summary as { state: string }).state === 'stopped');
  const step = (stopped.summary as { step: number }).step;
  assert.match((stopped.summary as { message: string }).message, new RegExp(`stopped at step ${step}`));
  events.close();
  assert.ok(step < 40, `stopped at ${step}`);

  const detail = await call(board, 'GET', '/api/runs/detail?dir=saves/run');
  assert.equal(detail.status, 200);
  const newest = detail.body.checkpoints[0];
  assert.equal(newest.name, `checkpoint-${step}`);
  assert.equal(newest.verified, true);
  const rows = detail.body.rows as Row[];
  assert.equal(newest.loss, rows.filter((r) => r.loss !== undefined && r.event === undefined && r.current_steps <= step).pop()?.loss);
  for (const r of rows.filter((x) => x.loss !== undefined && x.current_steps > changedAt)) assert.equal(r.lr, 1e-3);
  assert.equal(detail.body.config.learning_rate, 2e-3);

  // The running chart's planned curve, redrawn from the LR history with the live change: it is the logged LR on
  // every step, and the new LR on every step to come.
  const curves = await call(board, 'GET', '/api/runs/lr?dir=saves/run');
  assert.equal(curves.status, 200, JSON.stringify(curves.body));
  const curve = new Map([...curves.body.done, ...curves.body.planned].map((p: { step: number; lr: number }) => [p.step + 1, p.lr]));
  assert.equal(curve.size, 40);
  for (const r of rows.filter((x) => x.loss !== undefined && x.event === undefined)) assert.equal(r.lr, curve.get(r.current_steps), `step ${r.current_steps}`);
  for (let s = changedAt + 1; s <= 40; s++) assert.equal(curve.get(s), 1e-3, `step ${s}`);
  assert.ok(curve.get(changedAt) !== 1e-3);

  const listed = await call(board, 'GET', '/api/runs');
  const run = listed.body.runs.find((r: { dir: string }) => r.dir === 'saves/run');
  assert.equal(run.state, 'stopped');
  assert.equal(run.loss.length, rows.filter((r) => r.loss !== undefined && r.event === undefined).length);

  // The form now asks for a lower LR: the plan names the change, keeps the live change in the history, marks where
  // the new schedule starts, and Start runs exactly that.
  const resumeConfig = { ...config, learning_rate: 5e-4 };
  const plan = await call(board, 'POST', '/api/runs/plan', { config: resumeConfig });
  assert.equal(plan.status, 200, JSON.stringify(plan.body));
  assert.equal(plan.body.kind, 'resume');
  assert.equal(plan.body.step, step);
  assert.equal(plan.body.refusal, null);
  assert.deepEqual(plan.body.rows.map((r: { field: string }) => r.field), ['learning_rate']);
  assert.match(plan.body.rows[0].effect, /^absolute: the new schedule at step/);
  assert.equal(plan.body.lr.changeAt, step);
  assert.deepEqual(plan.body.segments.map((s: { mode: string; start: number }) => [s.mode, s.start]),
    [['initial', 0], ['absolute', changedAt], ['absolute', step]]);
  assert.match(plan.body.text, /learning_rate: 0\.002 -> 0\.0005: absolute/);

  const strict = await call(board, 'POST', '/api/runs/plan', { config: { ...resumeConfig, resume_policy: 'strict' } });
  assert.match(strict.body.refusal, /resume_policy strict: the config differs from checkpoint-\d+ in: learning_rate/);
  const refused = await call(board, 'POST', '/api/runs/start', { config: { ...resumeConfig, resume_policy: 'strict' } });
  assert.equal(refused.status, 409);
  assert.equal(parse(readFileSync(join(root, 'saves/run/training_args.yaml'), 'utf8')).learning_rate, 2e-3);

  const resumed = await call(board, 'POST', '/api/runs/start', { config: resumeConfig });
  assert.equal(resumed.status, 201);
  const follow = await openEvents(board, '/api/runs/events?dir=saves/run');
  await follow.waitFor((e) => e.type === 'status' && (e.summary as { state: string }).state === 'finished', 120_000);
  follow.close();
  const final = await call(board, 'GET', '/api/runs/detail?dir=saves/run');
  const planned = new Map((plan.body.lr.planned as { step: number; lr: number }[]).map((p) => [p.step + 1, p.lr]));
  for (const r of (final.body.rows as Row[]).filter((x) => x.loss !== undefined && x.event === undefined && x.current_steps > step)) {
    if (planned.has(r.current_steps)) assert.equal(r.lr, planned.get(r.current_steps), `step ${r.current_steps}`);
  }
  assert.equal(final.body.summary.state, 'finished');
  assert.ok(existsSync(join(root, 'saves/run/adapter_model.safetensors')));

  // A checkpoint damaged after it was shown as verified is shown as broken, with the reason.
  const first = (final.body.checkpoints as { name: string; verified: boolean }[]).find((c) => c.name === 'checkpoint-10');
  assert.equal(first?.verified, true);
  appendFileSync(join(root, 'saves/run/checkpoint-10/adapter_model.safetensors'), 'x');
  const damaged = await call(board, 'GET', '/api/runs/detail?dir=saves/run');
  const broken = (damaged.body.checkpoints as { name: string; verified: boolean; reason: string }[]).find((c) => c.name === 'checkpoint-10');
  assert.equal(broken?.verified, false);
  assert.match(broken?.reason ?? '', /adapter_model\.safetensors has \d+ bytes, manifest says \d+/);
});

test('the event stream sends rows appended to trainer_log.jsonl, and a reset when the file is rewritten', async () => {
  const dir = join(root, 'saves/manual');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'trainer_log.jsonl'), '{"current_steps":1,"total_steps":9,"loss":2.5,"lr":0.1}\n');
  const events = await openEvents(board, '/api/runs/events?dir=saves/manual');
  await events.waitFor((e) => e.type === 'row' && (e.row as Row).current_steps === 1);
  appendFileSync(join(dir, 'trainer_log.jsonl'), '{"current_steps":2,"total_steps":9,"loss":2.4');
  appendFileSync(join(dir, 'trainer_log.jsonl'), ',"lr":0.1}\n');
  const row = await events.waitFor((e) => e.type === 'row' && (e.row as Row).current_steps === 2);
  assert.equal((row.row as Row).loss, 2.4);
  writeFileSync(join(dir, 'trainer_log.jsonl.tmp'), '{"current_steps":1,"total_steps":9,"loss":2.5,"lr":0.1}\n');
  renameSync(join(dir, 'trainer_log.jsonl.tmp'), join(dir, 'trainer_log.jsonl'));
  await events.waitFor((e) => e.type === 'reset');
  const after = events.events.findIndex((e) => e.type === 'reset');
  await events.waitFor((e) => events.events.indexOf(e) > after && e.type === 'row');
  events.close();
  assert.equal(events.events.filter((e) => e.type === 'row').length, 3);
  // Not started by this Board: no planned curve of its own (its plan is the resume panel's).
  assert.equal((await call(board, 'GET', '/api/runs/lr?dir=saves/manual')).status, 404);
});

test('closing the server stops a running training with SIGTERM, which saves a checkpoint', async () => {
  const other = await startBoard(root);
  const started = await call(other, 'POST', '/api/runs/start', { config: quickstartConfig({ output_dir: 'saves/closing', max_steps: 400, save_steps: 1000 }) });
  assert.equal(started.status, 201);
  const events = await openEvents(other, '/api/runs/events?dir=saves/closing');
  await events.waitFor((e) => e.type === 'row' && (e.row as Row).current_steps >= 2);
  events.close();
  await other.close();
  const detail = await call(board, 'GET', '/api/runs/detail?dir=saves/closing');
  assert.equal(detail.body.summary.state, 'stopped');
  assert.equal(detail.body.checkpoints[0].verified, true);
  assert.ok(detail.body.checkpoints[0].step >= 2);
});
