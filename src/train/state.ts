// train_state.json: everything beyond weights and Adam moments that a resumed run needs to continue bit for bit
// (data cursor, dropout RNG, LR schedule segments) and to explain itself (resume events, dataset fingerprint).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError } from '../util/errors.js';
import type { SamplerState } from '../data/sampler.js';
import type { ControlState, LrChangeEvent } from './control.js';
import type { ScheduleSegment } from './lr-history.js';

export const TRAIN_STATE_FILE = 'train_state.json';

// One resume or override, recorded so the history of a run can be read back and replayed.
export interface ResumeEvent {
  step: number;
  time: string; // ISO 8601
  from: string; // checkpoint folder resumed from
  policy: 'config' | 'checkpoint' | 'strict';
  lr_mode: 'absolute' | 'rewarm' | 'restart';
  changed: string[]; // config fields that differed from the checkpoint's
  applied: boolean; // false under resume_policy: checkpoint (the differences were ignored)
  reset_optimizer: boolean;
  dataset_changed: boolean;
}

export interface TrainState {
  format: 'retune-train-state';
  version: 1;
  global_step: number;
  total_steps: number;
  epoch: number; // epochs done, fractional: sampler.epoch + sampler.consumed / dataset.size
  sampler: SamplerState;
  dataset: { fingerprint: string; size: number };
  samples_seen: number;
  tokens_seen: number;
  rng: number[] | null; // dropout generator state; null when the model draws no random numbers
  schedule: ScheduleSegment[];
  events: (ResumeEvent | LrChangeEvent)[];
  control: ControlState; // control.jsonl read so far (absent in states written before live control: nothing read)
  bad_steps: number; // non-finite steps in a row when saved
  // Steps since the last logged row and their summed loss (and the stage's metrics summed over their micro-batches):
  // the next row averages over the same window as an uninterrupted run would.
  log_window: { loss_sum: number; steps: number; metrics?: Record<string, number>; micro_batches?: number };
  // Every applied step's loss summed since step 0, for train_results.json's train_loss (the whole run's mean). Absent
  // in checkpoints written before it was recorded: it then counts the steps run since such a resume.
  run_loss: { sum: number; steps: number };
  optimizer: { kind: 'adamw' | 'sgd'; step: number };
  // The backend's kernel path of the run that saved it (reference, avx2, avx512, ...): results are bit-identical
  // only on the same path. Absent in checkpoints written before it was recorded.
  kernel_path?: string;
  // Whether the trained weights' products read bf16 copies (bf16 mixed precision, src/tensor/bf16-copies.ts). Absent
  // in checkpoints written before it existed, whose trained weights' products ran in float32 even with bf16: true.
  bf16_copies?: boolean;
}

export function writeTrainState(dir: string, state: TrainState): void {
  writeFileSync(join(dir, TRAIN_STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

export function readTrainState(dir: string): TrainState {
  const path = join(dir, TRAIN_STATE_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RetuneError(`${path}: cannot read: ${(e as Error).message}`);
  }
  const s = raw as Partial<TrainState>;
  const fail = (field: string): never => {
    throw new RetuneError(`${path}: field ${field} is missing or invalid`);
  };
  if (s.format !== 'retune-train-state' || s.version !== 1) fail('format/version');
  const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
  for (const key of ['global_step', 'total_steps', 'samples_seen', 'tokens_seen', 'bad_steps'] as const) {
    if (!isCount(s[key])) fail(key);
  }
  if (!s.sampler || !isCount(s.sampler.epoch) || !isCount(s.sampler.consumed)) fail('sampler');
  if (!s.dataset || typeof s.dataset.fingerprint !== 'string' || !isCount(s.dataset.size)) fail('dataset');
  if (!Array.isArray(s.schedule) || s.schedule.length === 0) fail('schedule');
  if (!Array.isArray(s.events)) fail('events');
  if (!s.log_window || typeof s.log_window.loss_sum !== 'number' || !isCount(s.log_window.steps)) fail('log_window');
  if (s.rng !== null && !Array.isArray(s.rng)) fail('rng');
  if (s.kernel_path !== undefined && typeof s.kernel_path !== 'string') fail('kernel_path');
  if (s.bf16_copies !== undefined && typeof s.bf16_copies !== 'boolean') fail('bf16_copies');
  if (!s.optimizer || (s.optimizer.kind !== 'adamw' && s.optimizer.kind !== 'sgd') || !isCount(s.optimizer.step)) {
    fail('optimizer');
  }
  if (s.control === undefined) s.control = { offset: 0, pending: [] };
  if (s.run_loss === undefined) s.run_loss = { sum: 0, steps: 0 };
  if (typeof s.run_loss.sum !== 'number' || !isCount(s.run_loss.steps)) fail('run_loss');
  if (!isCount(s.control.offset) || !Array.isArray(s.control.pending)) fail('control');
  return s as TrainState;
}
