// Live control of a running training: `retune control <output_dir> lr=...` and the web UI append a request line to
// output_dir/control.jsonl; the trainer reads new lines at each optimizer-step boundary and applies them before the
// next step. A learning-rate change becomes a segment of the LR history (lr-history.ts), the same record a resume
// writes, applied at a recorded step: the checkpoint carries it and every resume replays it. The bytes of the file
// already read, and requests waiting for their `at` step, are part of the train state, so a resume neither repeats
// nor loses a request.
import { appendFileSync, closeSync, openSync, readSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { ScheduleSegment } from './lr-history.js';

export const CONTROL_FILE = 'control.jsonl';

export interface LrRequest {
  id: string;
  lr: number; // the LR from the step it applies at on
  ramp: number; // steps of a linear ramp from the LR the next step would have had (0: at once)
  at: number | null; // apply once this many optimizer steps are done (null: at the next step boundary)
}

export interface ControlState {
  offset: number; // bytes of control.jsonl consumed
  pending: LrRequest[]; // read, waiting for their `at` step
}

// Recorded in train_state.json events next to the resumes.
export interface LrChangeEvent {
  kind: 'lr_change';
  step: number; // optimizer steps done when it took effect: step + 1 is the first to run with it
  time: string;
  id: string;
  lr: number;
  ramp: number;
}

export function checkLrRequest(lr: unknown, ramp: unknown, at: unknown): { lr: number; ramp: number; at: number | null } {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new UsageError(`lr: expected a number >= 0, got ${String(lr)}`);
  const r = ramp ?? 0;
  if (!Number.isInteger(r) || (r as number) < 0) throw new UsageError(`ramp: expected a whole number of steps >= 0, got ${String(ramp)}`);
  const a = at ?? null;
  if (a !== null && (!Number.isInteger(a) || (a as number) < 0)) throw new UsageError(`at: expected a step number >= 0, got ${String(at)}`);
  return { lr, ramp: r as number, at: a as number | null };
}

// Appends one request; one short write with O_APPEND, so concurrent requesters never interleave their lines.
export function requestLrChange(outputDir: string, values: { lr: number; ramp?: number; at?: number | null }): LrRequest {
  const request: LrRequest = { id: randomBytes(6).toString('hex'), ...checkLrRequest(values.lr, values.ramp, values.at) };
  appendFileSync(join(outputDir, CONTROL_FILE), JSON.stringify({ type: 'lr', ...request }) + '\n');
  return request;
}

function parseRequest(line: string): LrRequest {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new UsageError(`not JSON: ${line.slice(0, 80)}`);
  }
  if (raw.type !== 'lr') throw new UsageError(`unknown request type ${JSON.stringify(raw.type)} (known: lr)`);
  const id = typeof raw.id === 'string' && raw.id !== '' ? raw.id : 'unnamed';
  return { id, ...checkLrRequest(raw.lr, raw.ramp, raw.at) };
}

// Complete lines added to control.jsonl after `offset`; a line still being written waits for the next call.
export function readRequests(outputDir: string, offset: number): { requests: LrRequest[]; errors: string[]; offset: number } {
  const path = join(outputDir, CONTROL_FILE);
  const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (size <= offset) return { requests: [], errors: [], offset };
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  const end = buffer.lastIndexOf(0x0a);
  if (end < 0) return { requests: [], errors: [], offset };
  const requests: LrRequest[] = [];
  const errors: string[] = [];
  for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      requests.push(parseRequest(line));
    } catch (err) {
      errors.push(`${CONTROL_FILE}: ${(err as Error).message}`);
    }
  }
  return { requests, errors, offset: offset + end + 1 };
}

// The LR history with `request` in force from `step` on: a constant LR (ramped to over `ramp` steps). The segment
// keeps the config's `asked` schedule, so a later resume with the same config sees no change and keeps this one.
export function applyLrChange(history: ScheduleSegment[], step: number, request: LrRequest): ScheduleSegment[] {
  const current = history[history.length - 1];
  const spec = { type: 'constant' as const, baseLr: request.lr, totalSteps: current.spec.totalSteps, warmupSteps: 0, kwargs: {} };
  const segment: ScheduleSegment = {
    start: step, mode: request.ramp > 0 ? 'rewarm' : 'absolute', asked: current.asked, spec, rampSteps: request.ramp,
  };
  return [...history, segment];
}
