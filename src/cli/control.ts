// `retune control <output_dir> lr=<value> [ramp=<steps>] [at=<step>]`: change the learning rate of the training
// running in output_dir without stopping it. The request goes to output_dir/control.jsonl; the trainer applies it at
// its next optimizer-step boundary (or once `at` steps are done), records it in the LR history its checkpoints carry,
// and acknowledges it in trainer_log.jsonl, which this command waits for while the run is alive.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../util/errors.js';
import { requestLrChange } from '../train/control.js';
import { LOCK_FILE, processAlive } from '../train/lock.js';
import { TRAINER_LOG } from '../train/logging.js';

const WAIT_MS = 120_000;
const POLL_MS = 100;

function parseValues(args: string[]): { lr: number; ramp: number; at: number | null } {
  const values: Record<string, unknown> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = arg.slice(0, Math.max(0, eq));
    if (eq <= 0 || !['lr', 'ramp', 'at'].includes(key)) {
      throw new UsageError(`control: expected lr=<value>, ramp=<steps> or at=<step>, got ${JSON.stringify(arg)}`);
    }
    values[key] = parse(arg.slice(eq + 1)) as unknown;
  }
  if (values.lr === undefined) throw new UsageError('control: lr=<value> is required (e.g. retune control saves/run lr=1e-4)');
  return { lr: values.lr as number, ramp: (values.ramp ?? 0) as number, at: (values.at ?? null) as number | null };
}

function runningPid(outputDir: string): number | null {
  const lock = join(outputDir, LOCK_FILE);
  if (!existsSync(lock)) return null;
  const pid = Number(readFileSync(lock, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : null;
}

// The trainer_log.jsonl row acknowledging request `id`, once written.
function findAck(outputDir: string, id: string): Record<string, unknown> | null {
  const path = join(outputDir, TRAINER_LOG);
  if (!existsSync(path)) return null;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.includes(id)) continue;
    try {
      const row = JSON.parse(line) as Record<string, unknown>;
      if (row.event === 'lr_change' && row.id === id) return row;
    } catch {
      // a row still being written
    }
  }
  return null;
}

export async function runControlCommand(args: string[]): Promise<number> {
  const [outputDir, ...rest] = args;
  if (outputDir === undefined || outputDir.includes('=')) throw new UsageError('control: usage: retune control <output_dir> lr=<value> [ramp=<steps>] [at=<step>]');
  if (!statSync(outputDir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`control: ${outputDir}: no such output_dir`);
  const request = requestLrChange(outputDir, parseValues(rest));
  const pid = runningPid(outputDir);
  const what = `lr ${request.lr}${request.ramp > 0 ? ` (ramp over ${request.ramp} steps)` : ''}`;
  if (pid === null) {
    process.stdout.write(`requested ${what} as ${request.id}; no run is training in ${outputDir}: it applies when the run resumes\n`);
    return 0;
  }
  process.stdout.write(`requested ${what} as ${request.id}; waiting for run ${pid} to apply it...\n`);
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline && processAlive(pid)) {
    const ack = findAck(outputDir, request.id);
    if (ack !== null) {
      process.stdout.write(`applied: steps from ${String(ack.first_step)} on run with it\n`);
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  process.stdout.write(`not acknowledged yet; the run applies it at its next step (see ${TRAINER_LOG})\n`);
  return 0;
}
