// kill -9 at arbitrary moments (during steps, inside checkpoint saves, rotations and log writes), at least 20 times:
// no kill ever leaves a checkpoint folder that fails to verify, every restart resumes from the newest checkpoint, and
// the run that finally completes has the log rows and final weights of one uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLatestCheckpoint } from '../../src/train/checkpoint.js';
import { explain, startTrain, stepRows, tempDir, train, waitForOutput, writeConfig } from '../train/run-helpers.js';

// 10 epochs of 5 steps, a checkpoint after every step and only the newest 2 kept, so kills land near saves and
// rotations.
const settings = { num_train_epochs: 10, save_steps: 1, save_total_limit: 2 };

// Where each run is killed, from a fixed sequence: the test is the same every time, yet the kills fall at varied
// moments. Kills follow output lines rather than wall time, so a run advances at most a step or two before it dies on
// any machine: right after startup, right after a step is logged (inside its checkpoint save), or right after a save
// (inside the rotation or the next step).
function killPoints(count: number): { after: RegExp; delayMs: number }[] {
  const out: { after: RegExp; delayMs: number }[] = [];
  let x = 12345;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = x >>> 8;
    const after = [/(Training|Resume) plan/, /step \d+\/50/, /saved /][r % 3];
    out.push({ after, delayMs: r % 3 === 0 ? (r >>> 2) % 150 : (r >>> 2) % 15 });
  }
  return out;
}

test('20 kill -9 restarts, each resuming from a verifying checkpoint, end bit-identical to a straight run', async () => {
  const straightDir = tempDir('kill-straight');
  const straight = train(writeConfig(straightDir, settings));

  const dir = tempDir('kill');
  const cfg = writeConfig(dir, settings);
  const out = join(dir, 'out');
  let kills = 0;
  const points = killPoints(40);
  for (let i = 0; kills < 20 && i < points.length; i++) {
    const { latest, broken } = findLatestCheckpoint(out);
    assert.deepEqual(broken, [], `after ${kills} kills a checkpoint folder does not verify`);
    const run = startTrain(cfg);
    await waitForOutput(run.child, points[i].after);
    await new Promise((resolve) => setTimeout(resolve, points[i].delayMs));
    run.child.kill('SIGKILL');
    const r = await run.done;
    if (latest !== null) assert.match(r.stdout, new RegExp(`Resume plan: ${latest.name},`), explain(r));
    else assert.match(r.stdout, /fresh run/, explain(r));
    if (r.signal === 'SIGKILL') kills++;
    else assert.equal(r.code, 0, explain(r));
  }
  assert.equal(kills, 20);

  const last = await train(cfg);
  assert.equal(last.code, 0, explain(last));
  const done = await straight;
  assert.equal(done.code, 0, explain(done));
  const reference = stepRows(join(straightDir, 'out'));
  assert.equal(reference.size, 50);
  assert.deepEqual(stepRows(out), reference);
  const weights = (d: string) => readFileSync(join(d, 'adapter_model.safetensors'));
  assert.ok(weights(out).equals(weights(join(straightDir, 'out'))), 'final adapter weights differ');
});
