// Files that appear whole or not at all: written beside the target under a temporary name, synced, then renamed over
// it. A crash or a full disk never leaves a half-written weight or config file under the real name, and an earlier
// file of that name stays intact until the new one is complete.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

// `chunks` is consumed lazily, so a caller can encode a large file piece by piece without holding it all.
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const bytes of chunks) writeAll(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

export function writeTextAtomic(path: string, contents: string | Uint8Array): void {
  writeFileAtomic(path, [typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents]);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeTextAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
