// The runs of the Board: trainings it started (child processes running `retune train <dir>/training_args.yaml`,
// exactly a CLI run) and every other output dir under the root that holds a trainer_log.jsonl. A run's state is read
// from what it leaves on disk (log rows, the lock, checkpoints) plus, for its own children, how they exited, so a
// page opened later, or a server restarted, sees the same runs.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_FILE, processAlive } from '../../train/lock.js';
import type { RunEvent, RunState, RunSummary } from './api-types.js';
import { ChildRun, DirListeners, stopAll } from './child-run.js';
import { parseRows } from './log-tail.js';
import type { RootedPaths } from './paths.js';

export const LOG_FILE = 'trainer_log.jsonl';
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git']);
const SCAN_DEPTH = 4;

// The lock's owner while it runs. The trainer removes the lock as it exits, possibly between any check and the read,
// so a lock that is gone by the time it is read means "not running", never an error.
function lockOwner(dir: string): number | null {
  let text: string;
  try {
    text = readFileSync(join(dir, LOCK_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : null;
}

function stateOf(child: ChildRun | undefined, locked: number | null, step: number, total: number | null): { state: RunState; message: string } {
  if (child?.running === true || locked !== null) return { state: 'running', message: `running, step ${step}` };
  if (total !== null && step >= total) return { state: 'finished', message: `finished at step ${step}` };
  if (child !== undefined) {
    const stoppedBy = child.stopBy();
    if (stoppedBy === 'SIGKILL') return { state: 'stopped', message: `aborted at step ${step}` };
    if (stoppedBy === null && child.exit?.code !== 0) return { state: 'failed', message: `failed: ${child.failure()}` };
  }
  if (step === 0 && total === null) return { state: 'empty', message: 'no step logged yet' };
  return { state: 'stopped', message: `stopped at step ${step}` };
}

export class RunManager {
  private readonly children = new Map<string, ChildRun>(); // by real output dir
  private readonly listeners = new DirListeners<RunEvent>(); // by real output dir

  constructor(private readonly paths: RootedPaths) {}

  // Console lines so far, then every new one and every exit, of the runs this server starts in `dir`, now or later.
  subscribe(dir: string, send: (event: RunEvent) => void): () => void {
    for (const { stream, line } of this.children.get(dir)?.lines ?? []) send({ type: 'log', stream, line });
    return this.listeners.add(dir, send);
  }

  private emit(dir: string, event: RunEvent): void {
    this.listeners.emit(dir, event);
  }

  running(dir: string): boolean {
    return this.children.get(dir)?.running === true || lockOwner(dir) !== null;
  }

  // `retune train <argsFile>`: exactly a CLI run.
  start(dir: string, argsFile: string): { pid: number; argv: string[] } {
    const child = new ChildRun(['retune', 'train', this.paths.show(argsFile)], this.paths.root,
      (stream, line) => this.emit(dir, { type: 'log', stream, line }),
      () => this.emit(dir, { type: 'status', summary: this.summary(dir) }));
    this.children.set(dir, child);
    this.emit(dir, { type: 'status', summary: this.summary(dir) });
    return { pid: child.process.pid as number, argv: child.argv };
  }

  // SIGTERM: the trainer finishes its step, saves a checkpoint and exits (resumable). SIGKILL ends it at once.
  signal(dir: string, signal: 'SIGTERM' | 'SIGKILL'): boolean {
    const child = this.children.get(dir);
    if (child?.running === true) {
      child.process.kill(signal);
      return true;
    }
    const pid = lockOwner(dir);
    if (pid === null) return false;
    process.kill(pid, signal);
    return true;
  }

  summary(dir: string): RunSummary {
    const log = join(dir, LOG_FILE);
    const stat = statSync(log, { throwIfNoEntry: false });
    const rows = stat === undefined ? [] : parseRows(readFileSync(log, 'utf8'));
    let step = 0;
    let total: number | null = null;
    const loss: { step: number; loss: number }[] = [];
    for (const row of rows) {
      step = Math.max(step, row.current_steps);
      if (typeof row.total_steps === 'number') total = row.total_steps;
      if (typeof row.loss === 'number' && row.event === undefined) loss.push({ step: row.current_steps, loss: row.loss });
    }
    const child = this.children.get(dir);
    const locked = lockOwner(dir);
    const { state, message } = stateOf(child, locked, step, total);
    return {
      dir: this.paths.show(dir), state, step, totalSteps: total, message, startedByServer: child !== undefined,
      pid: child?.running === true ? (child.process.pid ?? null) : locked,
      updated: (stat?.mtime ?? new Date(0)).toISOString(), loss,
    };
  }

  // Every folder under the root holding a trainer_log.jsonl, plus runs this server started that have not logged yet.
  list(): RunSummary[] {
    const found = new Set<string>(this.children.keys());
    const walk = (dir: string, depth: number): void => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      if (entries.some((e) => e.isFile() && e.name === LOG_FILE)) found.add(dir);
      if (depth === SCAN_DEPTH) return;
      for (const e of entries) {
        if (e.isDirectory() && !e.name.startsWith('.') && !SKIPPED_DIRS.has(e.name) && !/^checkpoint-\d+/.test(e.name)) {
          walk(join(dir, e.name), depth + 1);
        }
      }
    };
    walk(this.paths.root, 0);
    return [...found].map((dir) => this.summary(dir)).sort((a, b) => b.updated.localeCompare(a.updated));
  }

  // Ctrl-C of the server: every running child gets SIGTERM (it saves and can be resumed) and is waited for.
  shutdown(): Promise<void> {
    return stopAll(this.children.values());
  }
}
