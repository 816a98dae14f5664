// One training process per output_dir: two runs writing the same checkpoints and log would interleave them. The lock
// is a file holding the owner's pid, created exclusively; a lock left by a process that no longer runs (kill -9) is
// taken over, so a crash never blocks the resume that follows it.
import { openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';

export const LOCK_FILE = '.retune-lock';

export interface OutputLock {
  release(): void;
}

export function lockOutputDir(outputDir: string): OutputLock {
  const path = join(outputDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return { release: () => rmSync(path, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
      throw new UsageError(`output_dir ${outputDir} is in use by retune process ${owner}; wait for it or stop it ` +
        `(if no such run exists, delete ${path})`);
    }
    rmSync(path, { force: true });
  }
  throw new UsageError(`output_dir ${outputDir}: could not take ${LOCK_FILE}; another process keeps creating it`);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
