// The learning rate of every step as a pure function of (resolved config, step, recorded resume events). A run starts
// with one schedule segment built from its config; each resume that changes the schedule appends a segment saying
// from which step the new schedule governs and how it joins (absolute / rewarm / restart). The segments travel in
// train_state.json, so a second resume replays the same history. Nothing here ever reads an optimizer.
import { lrAt, warmupStepsFor, type ScheduleSpec } from '../optim/schedule.js';
import type { RetuneConfig } from '../config/schema.js';
import { RetuneError } from '../util/errors.js';

export type JoinMode = 'absolute' | 'rewarm' | 'restart';

export interface ScheduleSegment {
  start: number; // optimizer steps done when this segment took over
  mode: 'initial' | JoinMode;
  // The schedule the config asked for over the run's total steps, as if it had always been in force. A later resume
  // compares its config against this to decide whether anything changed.
  asked: ScheduleSpec;
  // What runs: `asked` for initial/absolute/rewarm (evaluated at the global step); for restart a fresh schedule over
  // the remaining steps, evaluated at (step - start).
  spec: ScheduleSpec;
  rampSteps: number; // rewarm: steps of the linear ramp from the previous LR to this schedule
}

type ScheduleKeys = Pick<RetuneConfig,
  'lr_scheduler_type' | 'learning_rate' | 'warmup_steps' | 'warmup_ratio' | 'lr_scheduler_kwargs'>;

// The HF schedule a config asks for over `totalSteps` steps.
export function scheduleSpecFor(config: ScheduleKeys, totalSteps: number): ScheduleSpec {
  return {
    type: config.lr_scheduler_type,
    baseLr: config.learning_rate,
    totalSteps,
    warmupSteps: warmupStepsFor(config, totalSteps),
    kwargs: { ...config.lr_scheduler_kwargs },
  };
}

export function initialHistory(config: ScheduleKeys, totalSteps: number): ScheduleSegment[] {
  const spec = scheduleSpecFor(config, totalSteps);
  return [{ start: 0, mode: 'initial', asked: spec, spec, rampSteps: 0 }];
}

// The history after a resume at `step` whose config asks for `config` over `totalSteps` steps. Returns the same
// history when the config asks for the schedule already in force, so an unchanged resume records nothing.
export function joinSchedule(
  history: ScheduleSegment[],
  step: number,
  config: ScheduleKeys,
  totalSteps: number,
  mode: JoinMode,
  rampSteps: number,
): ScheduleSegment[] {
  const current = history[history.length - 1];
  const asked = scheduleSpecFor(config, totalSteps);
  if (sameSpec(current.asked, asked)) return history;
  const spec = mode === 'restart' ? scheduleSpecFor(config, Math.max(0, totalSteps - step)) : asked;
  const segment: ScheduleSegment = { start: step, mode, asked, spec, rampSteps: mode === 'rewarm' ? rampSteps : 0 };
  // A segment starting where the last one did replaces it: no step ever ran under the one it replaces.
  const kept = current.start === step && history.length > 1 ? history.slice(0, -1) : history;
  return [...kept, segment];
}

// The LR optimizer step t + 1 runs with (t = optimizer steps already done).
export function lrForStep(history: ScheduleSegment[], t: number): number {
  if (history.length === 0) throw new RetuneError('LR history is empty (train_state.json has no schedule segments)');
  let i = history.length - 1;
  while (i > 0 && history[i].start > t) i--;
  const seg = history[i];
  switch (seg.mode) {
    case 'initial':
    case 'absolute':
      return lrAt(seg.spec, t);
    case 'restart':
      return lrAt(seg.spec, t - seg.start);
    case 'rewarm': {
      const target = lrAt(seg.spec, t);
      const into = t - seg.start;
      if (into >= seg.rampSteps) return target;
      const from = lrForStep(history.slice(0, i), seg.start);
      return from + ((target - from) * into) / seg.rampSteps;
    }
  }
}

// Total optimizer steps: max_steps when set, else enough steps of the current effective batch to reach
// num_train_epochs over the dataset from the samples already consumed. With an unchanged config this equals the
// fresh run's count, and a changed batch size keeps the number of epochs right.
export function plannedTotalSteps(
  config: Pick<RetuneConfig, 'max_steps' | 'num_train_epochs' | 'per_device_train_batch_size' | 'gradient_accumulation_steps'>,
  datasetSize: number,
  done: { step: number; samples: number },
): number {
  if (config.max_steps > 0) return config.max_steps;
  const exact = config.num_train_epochs * datasetSize;
  const target = Math.abs(exact - Math.round(exact)) < 1e-6 ? Math.round(exact) : Math.ceil(exact);
  const effective = config.per_device_train_batch_size * config.gradient_accumulation_steps;
  return done.step + Math.ceil(Math.max(0, target - done.samples) / effective);
}

// Steps [from, to) sampled for a curve: every step when few, else `points` evenly spaced ones.
export function lrCurve(history: ScheduleSegment[], from: number, to: number, points: number): { step: number; lr: number }[] {
  const last = Math.max(from, to - 1);
  const count = Math.min(points, last - from + 1);
  const out: { step: number; lr: number }[] = [];
  for (let i = 0; i < count; i++) {
    const step = count === 1 ? from : from + Math.round((i * (last - from)) / (count - 1));
    out.push({ step, lr: lrForStep(history, step) });
  }
  return out;
}

function sameSpec(a: ScheduleSpec, b: ScheduleSpec): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(spec: ScheduleSpec): unknown[] {
  const keys = Object.keys(spec.kwargs).sort();
  return [spec.type, spec.baseLr, spec.totalSteps, spec.warmupSteps, keys.map((k) => [k, spec.kwargs[k]])];
}
