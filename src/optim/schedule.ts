// Learning-rate schedules as pure functions of the optimizer step, with the exact formulas of HF transformers'
// optimization.py. Retune never stores an LR in optimizer state: the LR of step t is recomputed from the resolved
// config every time, so a resume with a new config runs the new config.
//
// `step` counts optimizer steps already done, as torch's LambdaLR sees it: optimizer step t+1 runs with
// lrAt(spec, t). Every schedule is base_lr * factor(step), multiplied in that order like LambdaLR.get_lr, so the
// doubles match HF bit for bit up to the last ulp of Math.cos.

import type { RetuneConfig } from '../config/schema.js';
import { UsageError } from '../util/errors.js';

export const SCHEDULE_TYPES = [
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
  'constant',
  'constant_with_warmup',
  'inverse_sqrt',
  'cosine_with_min_lr',
  'cosine_warmup_with_min_lr',
  'warmup_stable_decay',
] as const;

export type ScheduleType = (typeof SCHEDULE_TYPES)[number];

// The config keys these come from: lr_scheduler_type, learning_rate, max_steps or the epoch count, warmup_steps or
// warmup_ratio (see warmupStepsFor), lr_scheduler_kwargs.
export interface ScheduleSpec {
  type: string;
  baseLr: number;
  totalSteps: number;
  warmupSteps: number;
  kwargs: Record<string, unknown>;
}

// HF types that adapt to metrics instead of being a function of the step; Retune cannot replay them on resume.
const REFUSED_TYPES: Record<string, string> = {
  reduce_lr_on_plateau: 'it depends on evaluation metrics, so the LR of a step cannot be recomputed on resume',
  greedy: 'it depends on the training loss, so the LR of a step cannot be recomputed on resume',
};

// lr_scheduler_kwargs each type accepts (HF rejects any other with a TypeError; we reject them up front).
const ACCEPTED_KWARGS: Record<ScheduleType, readonly string[]> = {
  linear: [],
  cosine: ['num_cycles'],
  cosine_with_restarts: ['num_cycles'],
  polynomial: ['lr_end', 'power'],
  constant: [],
  constant_with_warmup: [],
  inverse_sqrt: ['timescale'],
  cosine_with_min_lr: ['num_cycles', 'min_lr', 'min_lr_rate'],
  cosine_warmup_with_min_lr: ['num_cycles', 'min_lr', 'min_lr_rate', 'warmup_lr_rate'],
  warmup_stable_decay: ['num_stable_steps', 'num_decay_steps', 'warmup_type', 'decay_type', 'min_lr_ratio', 'num_cycles'],
};

const WSD_SHAPES = ['linear', 'cosine', '1-sqrt'] as const;
type WsdShape = (typeof WSD_SHAPES)[number];

// HF TrainingArguments.get_warmup_steps: warmup_steps >= 1 counts steps, 0 < warmup_steps < 1 is a ratio
// (transformers 5), and warmup_steps = 0 falls back to warmup_ratio (transformers 4, LLaMA-Factory configs).
export function warmupStepsFor(config: Pick<RetuneConfig, 'warmup_steps' | 'warmup_ratio'>, totalSteps: number): number {
  const { warmup_steps: warmupSteps, warmup_ratio: warmupRatio } = config;
  if (warmupSteps >= 1) return Math.trunc(warmupSteps);
  if (warmupSteps > 0) return Math.ceil(totalSteps * warmupSteps);
  return Math.ceil(totalSteps * warmupRatio);
}

function isScheduleType(type: string): type is ScheduleType {
  return (SCHEDULE_TYPES as readonly string[]).includes(type);
}

function numberKwarg(spec: ScheduleSpec, key: string, fallback: number): number {
  const value = spec.kwargs[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new UsageError(`lr_scheduler_kwargs.${key} must be a number for ${spec.type}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalNumberKwarg(spec: ScheduleSpec, key: string): number | null {
  return spec.kwargs[key] === undefined || spec.kwargs[key] === null ? null : numberKwarg(spec, key, 0);
}

function shapeKwarg(spec: ScheduleSpec, key: string, fallback: WsdShape): WsdShape {
  const value = spec.kwargs[key] ?? fallback;
  if (typeof value !== 'string' || !(WSD_SHAPES as readonly string[]).includes(value)) {
    throw new UsageError(`lr_scheduler_kwargs.${key} must be one of ${WSD_SHAPES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as WsdShape;
}

// Checks a spec the way HF's get_scheduler and the schedule constructors do, with errors naming the config key.
// lrAt calls it too, so a bad spec can never produce a garbage LR.
export function validateSchedule(spec: ScheduleSpec): void {
  if (Object.hasOwn(REFUSED_TYPES, spec.type)) {
    throw new UsageError(`lr_scheduler_type: ${spec.type} is not supported: ${REFUSED_TYPES[spec.type]}`);
  }
  if (!isScheduleType(spec.type)) {
    throw new UsageError(`lr_scheduler_type: unknown schedule '${spec.type}' (expected one of ${SCHEDULE_TYPES.join(', ')})`);
  }
  if (!(Number.isFinite(spec.baseLr) && spec.baseLr >= 0)) {
    throw new UsageError(`learning_rate must be a finite number >= 0, got ${spec.baseLr}`);
  }
  if (!(Number.isInteger(spec.totalSteps) && spec.totalSteps >= 0)) {
    throw new UsageError(`the number of training steps must be an integer >= 0, got ${spec.totalSteps}`);
  }
  if (!(Number.isInteger(spec.warmupSteps) && spec.warmupSteps >= 0)) {
    throw new UsageError(`warmup steps must be an integer >= 0, got ${spec.warmupSteps}`);
  }
  const accepted = ACCEPTED_KWARGS[spec.type];
  for (const key of Object.keys(spec.kwargs)) {
    if (!accepted.includes(key)) {
      const list = accepted.length > 0 ? `accepts: ${accepted.join(', ')}` : 'accepts none';
      throw new UsageError(`lr_scheduler_kwargs.${key} is not a parameter of ${spec.type} (${list})`);
    }
  }
  for (const key of accepted) {
    if (key !== 'warmup_type' && key !== 'decay_type') optionalNumberKwarg(spec, key);
  }
  validateTypeSpecific(spec as ScheduleSpec & { type: ScheduleType });
}

function validateTypeSpecific(spec: ScheduleSpec & { type: ScheduleType }): void {
  switch (spec.type) {
    case 'polynomial': {
      const lrEnd = numberKwarg(spec, 'lr_end', 1e-7);
      if (!(spec.baseLr > lrEnd)) {
        throw new UsageError(`lr_scheduler_kwargs.lr_end (${lrEnd}) must be smaller than learning_rate (${spec.baseLr})`);
      }
      // HF divides by (total - warmup) once the warmup is over and fails with ZeroDivisionError there.
      if (spec.totalSteps <= spec.warmupSteps) {
        throw new UsageError(`polynomial needs more training steps (${spec.totalSteps}) than warmup steps (${spec.warmupSteps})`);
      }
      return;
    }
    case 'cosine_with_min_lr':
    case 'cosine_warmup_with_min_lr':
      minLrRate(spec);
      return;
    case 'inverse_sqrt': {
      const timescale = optionalNumberKwarg(spec, 'timescale');
      if (timescale !== null && !(timescale > 0)) {
        throw new UsageError(`lr_scheduler_kwargs.timescale must be > 0, got ${timescale}`);
      }
      return;
    }
    case 'warmup_stable_decay': {
      const decaySteps = optionalNumberKwarg(spec, 'num_decay_steps');
      if (decaySteps === null) throw new UsageError('warmup_stable_decay needs lr_scheduler_kwargs.num_decay_steps');
      const stableSteps = optionalNumberKwarg(spec, 'num_stable_steps');
      for (const [key, value] of [['num_decay_steps', decaySteps], ['num_stable_steps', stableSteps]] as const) {
        if (value !== null && !(Number.isInteger(value) && value >= 0)) {
          throw new UsageError(`lr_scheduler_kwargs.${key} must be an integer >= 0, got ${value}`);
        }
      }
      shapeKwarg(spec, 'warmup_type', 'linear');
      shapeKwarg(spec, 'decay_type', 'cosine');
      return;
    }
    default:
      return;
  }
}

// cosine_with_min_lr takes either an absolute min_lr or a ratio of the base LR, exactly one of them.
function minLrRate(spec: ScheduleSpec): number {
  const minLr = optionalNumberKwarg(spec, 'min_lr');
  const rate = optionalNumberKwarg(spec, 'min_lr_rate');
  if (minLr !== null && rate !== null) {
    throw new UsageError(`${spec.type}: set only one of lr_scheduler_kwargs.min_lr and lr_scheduler_kwargs.min_lr_rate`);
  }
  if (minLr !== null) {
    if (!(spec.baseLr > 0)) throw new UsageError(`${spec.type}: lr_scheduler_kwargs.min_lr needs learning_rate > 0`);
    return minLr / spec.baseLr;
  }
  if (rate === null) throw new UsageError(`${spec.type} needs lr_scheduler_kwargs.min_lr or lr_scheduler_kwargs.min_lr_rate`);
  return rate;
}

// Linear ramp 0 -> 1 shared by most HF schedules.
function warmupFactor(step: number, warmup: number): number {
  return step / Math.max(1, warmup);
}

function cosineFactor(spec: ScheduleSpec, step: number, minRate: number): number {
  const W = spec.warmupSteps;
  if (step < W) return warmupFactor(step, W);
  const progress = (step - W) / Math.max(1, spec.totalSteps - W);
  const cycles = numberKwarg(spec, 'num_cycles', 0.5);
  const factor = 0.5 * (1.0 + Math.cos(Math.PI * cycles * 2.0 * progress));
  return Math.max(0, factor * (1 - minRate) + minRate);
}

function factorAt(spec: ScheduleSpec & { type: ScheduleType }, step: number): number {
  const W = spec.warmupSteps;
  const N = spec.totalSteps;
  switch (spec.type) {
    case 'constant':
      return 1;
    case 'constant_with_warmup':
      return step < W ? warmupFactor(step, W) : 1.0;
    case 'linear':
      if (step < W) return warmupFactor(step, W);
      return Math.max(0.0, (N - step) / Math.max(1, N - W));
    case 'cosine':
      // HF's plain cosine has no min-LR term; factor * 1 + 0 is exact, so one formula serves both.
      return cosineFactor(spec, step, 0);
    case 'cosine_with_min_lr':
      return cosineFactor(spec, step, minLrRate(spec));
    case 'cosine_with_restarts': {
      if (step < W) return warmupFactor(step, W);
      const progress = (step - W) / Math.max(1, N - W);
      if (progress >= 1.0) return 0.0;
      const cycles = numberKwarg(spec, 'num_cycles', 1);
      return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * ((cycles * progress) % 1.0))));
    }
    case 'polynomial':
      return polynomialFactor(spec, step);
    case 'inverse_sqrt': {
      if (step < W) return warmupFactor(step, W);
      const timescale = numberKwarg(spec, 'timescale', W || 10_000);
      const shift = timescale - W;
      return 1.0 / Math.sqrt((step + shift) / timescale);
    }
    case 'cosine_warmup_with_min_lr':
      return cosineWarmupWithMinLrFactor(spec, step);
    case 'warmup_stable_decay':
      return wsdFactor(spec, step);
  }
}

function polynomialFactor(spec: ScheduleSpec, step: number): number {
  const W = spec.warmupSteps;
  const N = spec.totalSteps;
  const lrInit = spec.baseLr;
  const lrEnd = numberKwarg(spec, 'lr_end', 1e-7);
  const power = numberKwarg(spec, 'power', 1.0);
  if (step < W) return warmupFactor(step, W);
  if (step > N) return lrEnd / lrInit;
  const pctRemaining = 1 - (step - W) / (N - W);
  return ((lrInit - lrEnd) * pctRemaining ** power + lrEnd) / lrInit;
}

// HF's "cosine_warmup_with_min_lr": the warmup starts at 1/W (or warmup_lr_rate) instead of 0 and the cosine is
// shifted one step earlier than in cosine_with_min_lr.
function cosineWarmupWithMinLrFactor(spec: ScheduleSpec, step: number): number {
  const W = spec.warmupSteps;
  const N = spec.totalSteps;
  const minRate = minLrRate(spec);
  const warmupRate = optionalNumberKwarg(spec, 'warmup_lr_rate');
  if (step < W) {
    if (warmupRate === null) return (step + 1.0) / Math.max(1.0, W);
    return warmupRate + ((1.0 - warmupRate) * step) / Math.max(1, W - 1);
  }
  const progress = (step - W + 1.0) / Math.max(1.0, N - W);
  const cycles = numberKwarg(spec, 'num_cycles', 0.5);
  const factor = 0.5 * (1.0 + Math.cos(Math.PI * cycles * 2.0 * progress));
  return Math.max(0, factor * (1 - minRate) + minRate);
}

// Warmup-stable-decay: ramp from min_lr_ratio to 1, hold, decay back to min_lr_ratio, then stay there.
function wsdFactor(spec: ScheduleSpec, step: number): number {
  const W = spec.warmupSteps;
  const decaySteps = numberKwarg(spec, 'num_decay_steps', 0);
  const stableSteps = numberKwarg(spec, 'num_stable_steps', spec.totalSteps - W - decaySteps);
  const minRatio = numberKwarg(spec, 'min_lr_ratio', 0);
  const cycles = numberKwarg(spec, 'num_cycles', 0.5);
  if (step < W) {
    const progress = step / Math.max(1, W);
    const factor = shapedRise(shapeKwarg(spec, 'warmup_type', 'linear'), progress);
    return Math.max(0.0, factor * (1.0 - minRatio) + minRatio);
  }
  if (step < W + stableSteps) return 1.0;
  if (step < W + stableSteps + decaySteps) {
    const progress = (step - W - stableSteps) / Math.max(1, decaySteps);
    const factor = shapedFall(shapeKwarg(spec, 'decay_type', 'cosine'), progress, cycles);
    return Math.max(0.0, factor * (1.0 - minRatio) + minRatio);
  }
  return minRatio;
}

function shapedRise(shape: WsdShape, progress: number): number {
  if (shape === 'linear') return progress;
  if (shape === 'cosine') return 0.5 * (1.0 - Math.cos(Math.PI * progress));
  return 1.0 - Math.sqrt(1.0 - progress);
}

function shapedFall(shape: WsdShape, progress: number, cycles: number): number {
  if (shape === 'linear') return 1.0 - progress;
  if (shape === 'cosine') return 0.5 * (1.0 + Math.cos(Math.PI * cycles * 2.0 * progress));
  return 1.0 - Math.sqrt(progress);
}

// The LR for optimizer step `step` + 1 (`step` = optimizer steps already done).
export function lrAt(spec: ScheduleSpec, step: number): number {
  validateSchedule(spec);
  if (!(Number.isInteger(step) && step >= 0)) throw new UsageError(`schedule step must be an integer >= 0, got ${step}`);
  return spec.baseLr * factorAt(spec as ScheduleSpec & { type: ScheduleType }, step);
}

// `points` evenly spaced steps over [0, totalSteps - 1] (every step when there are fewer), for the resume plan's
// curve and the dry run. Steps are integers, so the curve shows exactly the LRs that will run.
export function sampleCurve(spec: ScheduleSpec, points: number): { step: number; lr: number }[] {
  validateSchedule(spec);
  if (!(Number.isInteger(points) && points >= 1)) throw new UsageError(`curve points must be an integer >= 1, got ${points}`);
  const last = Math.max(0, spec.totalSteps - 1);
  const count = Math.min(points, last + 1);
  const samples: { step: number; lr: number }[] = [];
  for (let i = 0; i < count; i++) {
    const step = count === 1 ? 0 : Math.round((i * last) / (count - 1));
    samples.push({ step, lr: lrAt(spec, step) });
  }
  return samples;
}

// One line for logs and the resume plan, e.g. "cosine, lr 2e-4, 10 warmup of 500 steps (num_cycles=0.5)".
export function describeSchedule(spec: ScheduleSpec): string {
  validateSchedule(spec);
  const keys = Object.keys(spec.kwargs).sort();
  const kwargs = keys.map((k) => `${k}=${typeof spec.kwargs[k] === 'string' ? spec.kwargs[k] : JSON.stringify(spec.kwargs[k])}`);
  const tail = kwargs.length > 0 ? ` (${kwargs.join(', ')})` : '';
  return `${spec.type}, lr ${spec.baseLr}, ${spec.warmupSteps} warmup of ${spec.totalSteps} steps${tail}`;
}
