import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, lockOutputDir } from '../../src/train/lock.js';

test('a live owner keeps output_dir locked; its death frees the lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-lock-'));
  const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  writeFileSync(join(dir, LOCK_FILE), String(owner.pid));
  assert.throws(() => lockOutputDir(dir), new RegExp(`in use by retune process ${owner.pid}`));
  const exited = new Promise((resolve) => owner.on('exit', resolve));
  owner.kill('SIGKILL');
  await exited;
  const lock = lockOutputDir(dir);
  assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), String(process.pid));
  lock.release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
});
