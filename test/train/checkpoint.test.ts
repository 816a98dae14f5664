import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  findLatestCheckpoint, openCheckpoint, removeStaleTemps, rotateCheckpoints, verifyCheckpoint, writeCheckpoint,
} from '../../src/train/checkpoint.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'retune-ckpt-'));
}

async function save(out: string, step: number, body = `weights of ${step}`): Promise<string> {
  const { path } = await writeCheckpoint(out, step, false, null, (dir) => {
    writeFileSync(join(dir, 'model.safetensors'), body);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'extra.json'), '{}');
  });
  return path;
}

test('writeCheckpoint leaves only the final folder, with a manifest covering every file', async () => {
  const out = tempDir();
  const path = await save(out, 10);
  assert.deepEqual(readdirSync(out), ['checkpoint-10']);
  const manifest = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8'));
  assert.equal(manifest.step, 10);
  assert.equal(manifest.weightsOnly, false);
  assert.deepEqual(manifest.files.map((f: { path: string }) => f.path), ['model.safetensors', 'sub/extra.json']);
  assert.equal(manifest.files[0].size, 'weights of 10'.length);
  const v = verifyCheckpoint(path);
  assert.equal(v.ok, true);
  rmSync(out, { recursive: true });
});

test('verifyCheckpoint names the missing, truncated or altered file', async () => {
  const out = tempDir();
  const path = await save(out, 5);
  writeFileSync(join(path, 'model.safetensors'), 'weights of 6');
  assert.deepEqual(verifyCheckpoint(path), { ok: false, reason: 'model.safetensors does not match its sha256' });
  assert.equal(verifyCheckpoint(path, { hashes: false }).ok, true);
  writeFileSync(join(path, 'model.safetensors'), 'short');
  assert.deepEqual(verifyCheckpoint(path), { ok: false, reason: 'model.safetensors has 5 bytes, manifest says 12' });
  rmSync(join(path, 'sub', 'extra.json'));
  writeFileSync(join(path, 'model.safetensors'), 'weights of 5');
  assert.deepEqual(verifyCheckpoint(path), { ok: false, reason: 'sub/extra.json is missing' });
  rmSync(join(path, 'manifest.json'));
  assert.equal(verifyCheckpoint(path).ok, false);
  assert.match((verifyCheckpoint(path) as { reason: string }).reason, /manifest\.json is missing/);
  rmSync(out, { recursive: true });
});

test('findLatestCheckpoint skips broken newer folders and reports each by name, deleting nothing', async () => {
  const out = tempDir();
  await save(out, 2);
  const four = await save(out, 4);
  const six = await save(out, 6);
  mkdirSync(join(out, 'checkpoint-8'));
  rmSync(join(six, 'model.safetensors'));
  writeFileSync(join(four, 'manifest.json'), '{not json');
  const { latest, broken } = findLatestCheckpoint(out);
  assert.equal(latest?.name, 'checkpoint-2');
  assert.equal(latest?.step, 2);
  assert.deepEqual(broken.map((b) => b.name), ['checkpoint-8', 'checkpoint-6', 'checkpoint-4']);
  assert.match(broken[1].reason, /model\.safetensors is missing/);
  assert.match(broken[2].reason, /does not parse/);
  assert.deepEqual(readdirSync(out).sort(), ['checkpoint-2', 'checkpoint-4', 'checkpoint-6', 'checkpoint-8']);
  rmSync(out, { recursive: true });
});

test('openCheckpoint refuses a named checkpoint that does not verify', async () => {
  const out = tempDir();
  const path = await save(out, 3);
  assert.equal(openCheckpoint(path).step, 3);
  writeFileSync(join(path, 'model.safetensors'), 'xx');
  assert.throws(() => openCheckpoint(path), /does not verify: model\.safetensors has 2 bytes/);
  assert.throws(() => openCheckpoint(join(out, 'nope')), /is not a folder/);
  rmSync(out, { recursive: true });
});

test('an existing folder of the same name is moved aside, not overwritten', async () => {
  const out = tempDir();
  mkdirSync(join(out, 'checkpoint-7'));
  writeFileSync(join(out, 'checkpoint-7', 'partial'), 'x');
  const { movedAside } = await writeCheckpoint(out, 7, true, null, (dir) => writeFileSync(join(dir, 'a'), 'a'));
  assert.equal(movedAside, 'checkpoint-7.old-1');
  assert.equal(readFileSync(join(out, 'checkpoint-7.old-1', 'partial'), 'utf8'), 'x');
  const v = verifyCheckpoint(join(out, 'checkpoint-7'));
  assert.ok(v.ok && v.manifest.weightsOnly);
  rmSync(out, { recursive: true });
});

test('rotateCheckpoints keeps the newest valid ones and the protected one, and never touches broken ones', async () => {
  const out = tempDir();
  const one = await save(out, 1);
  for (const s of [2, 3, 4]) await save(out, s);
  mkdirSync(join(out, 'checkpoint-5'));
  const deleted = rotateCheckpoints(out, 2, [one]);
  assert.deepEqual(deleted, ['checkpoint-2']);
  assert.deepEqual(readdirSync(out).sort(), ['checkpoint-1', 'checkpoint-3', 'checkpoint-4', 'checkpoint-5']);
  assert.deepEqual(rotateCheckpoints(out, 0, []), []);
  rmSync(out, { recursive: true });
});

test('removeStaleTemps removes leftovers of dead processes only', () => {
  const out = tempDir();
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  mkdirSync(join(out, `.tmp-checkpoint-3-${dead}`));
  mkdirSync(join(out, `.deleting-checkpoint-1-${dead}`));
  mkdirSync(join(out, `.tmp-final-${dead}`));
  mkdirSync(join(out, `.tmp-checkpoint-4-${process.ppid}`));
  const removed = removeStaleTemps(out).sort();
  assert.deepEqual(removed, [`.deleting-checkpoint-1-${dead}`, `.tmp-checkpoint-3-${dead}`, `.tmp-final-${dead}`]);
  assert.ok(existsSync(join(out, `.tmp-checkpoint-4-${process.ppid}`)));
  rmSync(out, { recursive: true });
});
