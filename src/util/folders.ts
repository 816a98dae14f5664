// Output folders and file-system failures in words. Raw errno text ("ENOTDIR: not a directory, mkdir") names neither
// the setting at fault nor what to do, and Node's recursive mkdir reports a location that takes no new folders (a
// read-only or virtual file system such as /proc) as ENOENT, or loops on it; so folders are made one level at a time.
import { accessSync, constants, mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.js';

// What an errno means for someone writing files, with what to do about it.
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOSPC':
      return 'the disk is full (ENOSPC); free some space';
    case 'EDQUOT':
      return 'the disk quota is used up (EDQUOT); free some space';
    case 'EFBIG':
      return 'the file is larger than this process may write (EFBIG, see ulimit -f)';
    case 'EROFS':
      return 'the file system is read-only (EROFS); pick a writable location';
    case 'EACCES':
    case 'EPERM':
      return `no permission to write there (${code}); pick a writable location or fix its permissions`;
    default:
      return (err as Error).message;
  }
}

// Creates `dir` and its missing parents for the setting `key` (output_dir, export_dir), or refuses with a UsageError
// naming the setting, the path and what to do.
export function makeOutputFolder(dir: string, key: string): void {
  for (const path of checkOutputFolder(dir, key)) {
    try {
      mkdirSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statOrNull(path)?.isDirectory()) continue;
      // The parent exists, so ENOENT here means the file system takes no new folders.
      const reason = code === 'ENOENT'
        ? `${dirname(path)} takes no new folders (a read-only or virtual file system); pick a writable location`
        : fsReason(e);
      throw new UsageError(`${key}: cannot create ${path}: ${reason}`);
    }
  }
}

// Refuses, as makeOutputFolder does, a `dir` that could not be made or written; creates nothing. Returns the folders
// that are missing, outermost first.
export function checkOutputFolder(dir: string, key: string): string[] {
  const target = resolve(dir);
  const missing: string[] = [];
  let existing = target;
  let st = statOrNull(existing);
  while (st === null && dirname(existing) !== existing) {
    missing.unshift(existing);
    existing = dirname(existing);
    st = statOrNull(existing);
  }
  if (st !== null && !st.isDirectory()) {
    throw new UsageError(existing === target
      ? `${key}: ${dir} is a file, not a folder; remove it or pick another ${key}`
      : `${key}: ${dir} cannot be created because ${existing} is a file, not a folder; pick another ${key}`);
  }
  try {
    accessSync(existing, constants.W_OK);
  } catch (e) {
    throw new UsageError(`${key}: cannot write in ${existing}: ${fsReason(e)}`);
  }
  return missing;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}
