// The dataset fingerprint and the tokenized cache. The fingerprint (sha256) covers everything that changes the
// tokenized rows: data file contents, dataset_info entries, template, tokenizer files, cutoff_len and the processing
// options. The trainer stores it so a resume notices a changed dataset; tokenized_path/<fingerprint>/ caches the rows.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RetuneError } from '../util/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/write-atomic.js';
import { TokenizedDataset } from './dataset-store.js';

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

// Key order is fixed by sorting so the same content always gives the same hash.
export function fingerprintOf(parts: unknown): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex');
}

function stableJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(stableJson).join(',') + ']';
  const keys = Object.keys(value as Record<string, unknown>).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + stableJson((value as Record<string, unknown>)[k])).join(',') + '}';
}

export interface CachedSplits {
  train: TokenizedDataset;
  eval: TokenizedDataset | null;
  dropped: number;
}

const META = 'meta.json';

export function loadCached(dir: string, fingerprint: string): CachedSplits | null {
  const metaPath = join(dir, META);
  if (!existsSync(metaPath)) return null;
  let meta: { fingerprint?: string; dropped?: number; hasEval?: boolean };
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  } catch {
    throw new RetuneError(`${metaPath}: unreadable tokenized-cache metadata; delete ${dir} or set overwrite_cache: true`);
  }
  if (meta.fingerprint !== fingerprint) {
    throw new RetuneError(`${metaPath}: fingerprint ${meta.fingerprint} does not match its folder; delete ${dir} or set overwrite_cache: true`);
  }
  return {
    train: TokenizedDataset.fromFile(join(dir, 'train.bin')),
    eval: meta.hasEval ? TokenizedDataset.fromFile(join(dir, 'eval.bin')) : null,
    dropped: meta.dropped ?? 0,
  };
}

// Written into a temporary sibling and renamed into place, so a crash never leaves a half-written cache that looks
// complete, and an existing cache is only replaced once the new one is whole.
export function saveCached(dir: string, fingerprint: string, splits: CachedSplits): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(tmp);
  try {
    writeFileAtomic(join(tmp, 'train.bin'), [splits.train.toBuffer()]);
    if (splits.eval) writeFileAtomic(join(tmp, 'eval.bin'), [splits.eval.toBuffer()]);
    const meta = { fingerprint, dropped: splits.dropped, hasEval: splits.eval !== null, train: splits.train.size, eval: splits.eval?.size ?? 0 };
    writeJsonAtomic(join(tmp, META), meta);
    if (existsSync(dir)) {
      const old = `${dir}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      renameSync(dir, old);
      renameSync(tmp, dir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, dir);
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw new RetuneError(`tokenized_path: cannot write the cache ${dir} (${(err as Error).message})`);
  }
}
