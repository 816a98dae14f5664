// Checkpoints that are either complete or absent. A checkpoint is written into a temporary sibling folder, every file
// is fsynced, manifest.json (size + sha256 of every other file) is written last, and the folder is renamed into place.
// A folder named checkpoint-<step> without a verifying manifest is not a checkpoint: it is reported, never deleted.
import {
  closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync,
  statSync, writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join, relative, sep } from 'node:path';
import { RetuneError, UsageError } from '../util/errors.js';
import { fsReason } from '../util/folders.js';
import { processAlive } from './lock.js';
import { TRAIN_STATE_FILE } from './state.js';

export const MANIFEST_FILE = 'manifest.json';
const CHECKPOINT_RE = /^checkpoint-(\d+)$/;
const TEMP_RE = /^\.(?:tmp|deleting)-(?:checkpoint-\d+|final)-(\d+)$/;

export interface ManifestEntry {
  path: string; // relative to the checkpoint folder, '/' separated
  size: number;
  sha256: string;
}

export interface Manifest {
  format: 'retune-checkpoint';
  version: 1;
  step: number;
  weightsOnly: boolean; // save_only_model: no optimizer/data state, so it can warm-start but not resume
  files: ManifestEntry[];
}

export interface CheckpointRef {
  step: number;
  path: string;
  name: string;
  manifest: Manifest;
}

export interface SavedCheckpoint {
  path: string;
  movedAside: string | null; // the name an older folder of the same name was moved aside to
  ref: CheckpointRef;
}

export interface BrokenCheckpoint {
  name: string;
  reason: string;
}

export type Verification = { ok: true; manifest: Manifest } | { ok: false; reason: string };

export function checkpointName(step: number): string {
  return `checkpoint-${step}`;
}

// Writes checkpoint-<step> in outputDir atomically. `fill` writes the contents into the folder it is given. A folder of
// the same name that already exists (a broken leftover, or a branch abandoned by resuming from an older checkpoint)
// is moved aside, never overwritten. Returns the final path and the name anything was moved aside to. A failed write
// (a full disk) removes its temporary folder and says which checkpoint (`previous`, this run's newest) is intact.
export async function writeCheckpoint(
  outputDir: string,
  step: number,
  weightsOnly: boolean,
  previous: string | null,
  fill: (dir: string) => void | Promise<void>,
): Promise<SavedCheckpoint> {
  const temp = join(outputDir, `.tmp-checkpoint-${step}-${process.pid}`);
  try {
    return await writeInto(temp, outputDir, step, weightsOnly, fill);
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).syscall === undefined) throw e;
    const kept = previous === null ? 'no earlier checkpoint of this run exists' : `${previous} is intact`;
    throw new RetuneError(`saving ${checkpointName(step)} in ${outputDir} failed: ${fsReason(e)}, then run the same ` +
      `command again to resume (${kept}; the partial ${basename(temp)} was removed)`);
  }
}

async function writeInto(
  temp: string, outputDir: string, step: number, weightsOnly: boolean, fill: (dir: string) => void | Promise<void>,
): Promise<SavedCheckpoint> {
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  await fill(temp);

  const files = listFiles(temp).filter((p) => p !== MANIFEST_FILE);
  const entries: ManifestEntry[] = [];
  for (const rel of files) {
    const abs = join(temp, rel);
    fsyncPath(abs);
    entries.push({ path: rel, size: statSync(abs).size, sha256: hashFile(abs) });
  }
  const manifest: Manifest = { format: 'retune-checkpoint', version: 1, step, weightsOnly, files: entries };
  writeFileSync(join(temp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  fsyncPath(join(temp, MANIFEST_FILE));
  fsyncPath(temp);

  const finalPath = join(outputDir, checkpointName(step));
  let movedAside: string | null = null;
  if (existsSync(finalPath)) {
    movedAside = freeName(outputDir, `${checkpointName(step)}.old`);
    renameSync(finalPath, join(outputDir, movedAside));
  }
  renameSync(temp, finalPath);
  fsyncPath(outputDir);
  return { path: finalPath, movedAside, ref: { step, path: finalPath, name: checkpointName(step), manifest } };
}

// Checks that the manifest exists, parses, and matches every file's size and hash (sizes only with hashes: false, for
// rotation, which runs at every save and must not re-read every checkpoint). Files not in the manifest are ignored
// (a user may drop a README into a checkpoint).
export function verifyCheckpoint(dir: string, opts: { hashes?: boolean } = {}): Verification {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) return { ok: false, reason: 'manifest.json is missing (the save did not finish)' };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch (e) {
    return { ok: false, reason: `manifest.json does not parse: ${(e as Error).message}` };
  }
  if (manifest.format !== 'retune-checkpoint' || !Array.isArray(manifest.files)) {
    return { ok: false, reason: 'manifest.json is not a Retune checkpoint manifest' };
  }
  for (const entry of manifest.files) {
    const abs = join(dir, entry.path);
    if (!existsSync(abs)) return { ok: false, reason: `${entry.path} is missing` };
    const size = statSync(abs).size;
    if (size !== entry.size) return { ok: false, reason: `${entry.path} has ${size} bytes, manifest says ${entry.size}` };
    if (opts.hashes !== false && hashFile(abs) !== entry.sha256) {
      return { ok: false, reason: `${entry.path} does not match its sha256` };
    }
  }
  return { ok: true, manifest };
}

// Folders named checkpoint-<step> in outputDir, newest first.
export function listCheckpointDirs(outputDir: string): { step: number; name: string; path: string }[] {
  if (!existsSync(outputDir)) return [];
  const found: { step: number; name: string; path: string }[] = [];
  for (const name of readdirSync(outputDir)) {
    const m = CHECKPOINT_RE.exec(name);
    const path = join(outputDir, name);
    if (m && statSync(path).isDirectory()) found.push({ step: Number(m[1]), name, path });
  }
  return found.sort((a, b) => b.step - a.step);
}

// The newest checkpoint that verifies, and every newer folder that does not (with why).
export function findLatestCheckpoint(outputDir: string): { latest: CheckpointRef | null; broken: BrokenCheckpoint[] } {
  const broken: BrokenCheckpoint[] = [];
  for (const dir of listCheckpointDirs(outputDir)) {
    const v = verifyCheckpoint(dir.path);
    if (v.ok) return { latest: { ...dir, manifest: v.manifest }, broken };
    broken.push({ name: dir.name, reason: v.reason });
  }
  return { latest: null, broken };
}

// Opens the checkpoint resume_from_checkpoint names; refuses (a config error) a path that is not a folder, a folder
// that is no checkpoint (a model folder), and one that does not verify, naming the reason.
export function openCheckpoint(dir: string): CheckpointRef {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`resume_from_checkpoint: ${dir} is not a folder; name a checkpoint-<step> folder of an earlier run`);
  }
  const name = dir.split(sep).filter((s) => s !== '').pop() ?? dir;
  if (!existsSync(join(dir, MANIFEST_FILE)) && !CHECKPOINT_RE.test(name) && !existsSync(join(dir, TRAIN_STATE_FILE))) {
    throw new UsageError(`resume_from_checkpoint: ${dir} is not a checkpoint folder (no ${MANIFEST_FILE}); to start ` +
      'from the weights of a model or adapter folder, set model_name_or_path or adapter_name_or_path instead');
  }
  const v = verifyCheckpoint(dir);
  if (!v.ok) throw new UsageError(`resume_from_checkpoint: ${dir} does not verify: ${v.reason}`);
  return { step: v.manifest.step, name, path: dir, manifest: v.manifest };
}

// save_total_limit: keeps the newest `limit` verifying checkpoints plus the protected ones (the one resumed from).
// Broken folders are neither counted nor touched. A checkpoint is renamed out of the checkpoint-<step> pattern before
// it is deleted, so a crash mid-delete never leaves a half-deleted folder that looks like a checkpoint.
export function rotateCheckpoints(outputDir: string, limit: number, protectedPaths: string[]): string[] {
  if (limit <= 0) return [];
  const valid = listCheckpointDirs(outputDir).filter((d) => verifyCheckpoint(d.path, { hashes: false }).ok);
  const keep = new Set(protectedPaths.map((p) => relative(outputDir, p)));
  const deleted: string[] = [];
  for (const dir of valid.slice(limit)) {
    if (keep.has(dir.name)) continue;
    const doomed = join(outputDir, `.deleting-checkpoint-${dir.step}-${process.pid}`);
    renameSync(dir.path, doomed);
    rmSync(doomed, { recursive: true, force: true });
    deleted.push(dir.name);
  }
  if (deleted.length > 0) fsyncPath(outputDir);
  return deleted;
}

// Removes temporary folders left by processes that no longer run (killed mid-save, mid-delete or while writing the
// final weights). They are never checkpoints, so nothing of value is lost. Returns their names.
export function removeStaleTemps(outputDir: string): string[] {
  if (!existsSync(outputDir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(outputDir)) {
    const m = TEMP_RE.exec(name);
    const pid = Number(m?.[1]);
    if (!m || (pid !== process.pid && processAlive(pid))) continue;
    rmSync(join(outputDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function freeName(dir: string, base: string): string {
  for (let i = 1; ; i++) {
    const name = `${base}-${i}`;
    if (!existsSync(join(dir, name))) return name;
  }
}

function listFiles(root: string, sub = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, sub)).sort()) {
    const rel = sub === '' ? name : `${sub}/${name}`;
    if (statSync(join(root, rel)).isDirectory()) out.push(...listFiles(root, rel));
    else out.push(rel);
  }
  return out;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function hashFile(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
