// The resume plan: what a resume will do, decided before the first step and printed for the user. A pure function of
// the checkpoint (its resolved config and train_state.json), the new config and the new dataset's fingerprint. The
// trainer runs exactly what the plan says: the config it returns, the LR history, the data cursor, the total steps.
import { resumeClassOf } from '../config/keys.js';
import type { ResumeClass, RetuneConfig } from '../config/schema.js';
import type { SamplerState } from '../data/sampler.js';
import { renderLrCurve } from '../optim/lr-curve.js';
import { joinSchedule, lrCurve, lrForStep, plannedTotalSteps, type ScheduleSegment } from './lr-history.js';
import type { TrainState } from './state.js';

type Key = keyof RetuneConfig;
export type RowKind = ResumeClass;

// How a change of the key joins the resume: the schema declares it for every key (src/config/schema.ts).
function kindOf(field: string): RowKind {
  const kind = resumeClassOf(field);
  if (kind === undefined) throw new Error(`resume plan: ${field} is not a config key`);
  return kind;
}

// Free to change under every policy: the math is unchanged.
function isFree(kind: RowKind): boolean {
  return kind === 'bookkeeping' || kind === 'no-effect';
}

export interface PlanRow {
  field: string;
  old: unknown;
  new: unknown;
  kind: RowKind;
  effect: string;
}

export interface ResumePlan {
  checkpoint: string;
  step: number;
  policy: RetuneConfig['resume_policy'];
  refusal: string | null; // set: the run must not start; the message says why and what to do instead
  rows: PlanRow[]; // fields that change the math
  info: PlanRow[]; // bookkeeping changes
  config: RetuneConfig; // what runs: the new config, or under resume_policy checkpoint the old math + new bookkeeping
  lrMode: RetuneConfig['resume_lr_mode'];
  schedule: ScheduleSegment[];
  totalSteps: number;
  resetOptimizer: boolean;
  effectiveBatch: { old: number; new: number };
  sampler: SamplerState;
  samplesSeen: number;
  datasetChanged: boolean;
  dataset: { fingerprint: string; size: number };
  finished: boolean; // the run already reached its total steps: nothing to train
  // The kernel path changed since the checkpoint (another CPU, or RETUNE_ISA): information only, never a refusal.
  kernelPath: { old: string; new: string } | null;
  // A full or freeze checkpoint with bf16: true written before bf16 mixed precision: its trained weights' products
  // ran in float32, and from here they read bf16 copies. Information only.
  predatesBf16Copies: boolean;
}

export interface ResumeInput {
  checkpoint: { name: string; path: string; weightsOnly: boolean };
  oldConfig: RetuneConfig;
  state: TrainState | null; // null for a weights-only checkpoint
  newConfig: RetuneConfig;
  dataset: { fingerprint: string; size: number };
  kernelPath: string; // the path this process runs (backend.kernelPath)
}

export function changedFields(oldConfig: RetuneConfig, newConfig: RetuneConfig): string[] {
  const keys = new Set([...Object.keys(oldConfig), ...Object.keys(newConfig)]);
  return [...keys].filter((k) => !same(oldConfig[k as Key], newConfig[k as Key])).sort();
}

// The config a resume runs with: the new one, or under resume_policy checkpoint the checkpoint's values for every
// field that changes the math, with the new bookkeeping. The dataset is prepared from this config.
export function effectiveConfig(oldConfig: RetuneConfig, newConfig: RetuneConfig): RetuneConfig {
  if (newConfig.resume_policy !== 'checkpoint') return newConfig;
  const merged: Record<string, unknown> = { ...oldConfig };
  for (const key of Object.keys(newConfig)) {
    if (isFree(kindOf(key))) merged[key] = newConfig[key as Key];
  }
  return merged as RetuneConfig;
}

export function planResume(input: ResumeInput): ResumePlan {
  const { checkpoint, oldConfig, state, newConfig, dataset, kernelPath } = input;
  const policy = newConfig.resume_policy;
  const config = effectiveConfig(oldConfig, newConfig);
  const changed = changedFields(oldConfig, newConfig);
  const step = state?.global_step ?? 0;
  const oldSize = state?.dataset.size ?? dataset.size;
  const datasetChanged = state !== null && state.dataset.fingerprint !== dataset.fingerprint;
  const effBatch = (c: RetuneConfig): number => c.per_device_train_batch_size * c.gradient_accumulation_steps;

  // A new dataset or seed means a new epoch order; continuing the old cursor into it would repeat and skip samples,
  // so the next epoch starts from its first sample.
  const reorder = datasetChanged || config.seed !== oldConfig.seed;
  const cursor = state?.sampler ?? { epoch: 0, consumed: 0 };
  const sampler = reorder && cursor.consumed > 0 ? { epoch: cursor.epoch + 1, consumed: 0 } : { ...cursor };
  const samplesInEpochs = sampler.epoch * dataset.size + sampler.consumed;
  const totalSteps = plannedTotalSteps(config, dataset.size, { step, samples: samplesInEpochs });
  const schedule = state === null
    ? []
    : joinSchedule(state.schedule, step, config, totalSteps, newConfig.resume_lr_mode, newConfig.resume_warmup_steps);
  const optimizerKind = (c: RetuneConfig): string => (c.optim === 'sgd' ? 'sgd' : 'adamw');
  const resetOptimizer = newConfig.reset_optimizer_state || optimizerKind(config) !== optimizerKind(oldConfig);

  const plan: ResumePlan = {
    checkpoint: checkpoint.name, step, policy, refusal: null, rows: [], info: [], config,
    lrMode: newConfig.resume_lr_mode, schedule, totalSteps, resetOptimizer,
    effectiveBatch: { old: effBatch(oldConfig), new: effBatch(config) }, sampler,
    samplesSeen: state?.samples_seen ?? 0, datasetChanged, dataset, finished: totalSteps <= step,
    kernelPath: state?.kernel_path !== undefined && state.kernel_path !== kernelPath
      ? { old: state.kernel_path, new: kernelPath }
      : null,
    predatesBf16Copies: state !== null && state.bf16_copies === undefined && oldConfig.bf16 && config.bf16 &&
      config.finetuning_type !== 'lora',
  };
  for (const field of changed) {
    const row: PlanRow = {
      field, old: oldConfig[field as Key], new: newConfig[field as Key], kind: kindOf(field), effect: '',
    };
    row.effect = effectOf(row, plan, oldSize);
    (isFree(row.kind) ? plan.info : plan.rows).push(row);
  }
  plan.refusal = refusalOf(plan, checkpoint, oldConfig);
  return plan;
}

function refusalOf(plan: ResumePlan, checkpoint: ResumeInput['checkpoint'], oldConfig: RetuneConfig): string | null {
  const warmStart = oldConfig.finetuning_type === 'lora'
    ? `adapter_name_or_path: ${checkpoint.path}`
    : `model_name_or_path: ${checkpoint.path}`;
  const suggestion = `To start from its weights instead, warm-start with ${warmStart} and a new output_dir.`;
  const structural = plan.rows.filter((r) => r.kind === 'structural');
  if (structural.length > 0) {
    const list = structural.map((r) => `${r.field} ${show(r.old)} -> ${show(r.new)}`).join(', ');
    return `cannot resume from ${checkpoint.name}: ${list} changes the structure of what is trained. ${suggestion}`;
  }
  if (checkpoint.weightsOnly) {
    return `cannot resume from ${checkpoint.name}: it was saved with save_only_model and holds weights only (no ` +
      `optimizer, data or RNG state). ${suggestion}`;
  }
  if (plan.policy === 'strict' && (plan.rows.length > 0 || plan.datasetChanged)) {
    const fields = plan.rows.map((r) => `${r.field} ${show(r.old)} -> ${show(r.new)}`);
    if (plan.datasetChanged) fields.push('dataset fingerprint');
    return `resume_policy strict: the config differs from ${plan.checkpoint} in: ${fields.join('; ')}. Restore ` +
      'these values, or choose resume_policy config (the new values win) or checkpoint (the saved values win).';
  }
  return null;
}

function effectOf(row: PlanRow, plan: ResumePlan, oldSize: number): string {
  if (row.kind === 'bookkeeping') return 'bookkeeping: takes effect, the math is unchanged';
  if (row.kind === 'no-effect') return 'no effect on training';
  if (row.kind === 'structural') return 'refused: the saved weights do not fit the new structure';
  if (plan.schedule.length === 0) return 'not applied: the checkpoint holds weights only';
  if (plan.policy === 'strict') return 'refused (resume_policy strict)';
  if (plan.policy === 'checkpoint') return `ignored: the checkpoint's ${show(row.old)} stays (resume_policy checkpoint)`;
  switch (row.kind) {
    case 'schedule':
      return scheduleEffect(plan);
    case 'optimizer':
      if (row.field === 'optim') {
        return plan.resetOptimizer ? 'new optimizer: its state starts empty' : 'same AdamW: moments kept';
      }
      return `applies from step ${plan.step + 1}; ${plan.resetOptimizer ? 'moments dropped' : 'Adam moments kept'}`;
    case 'batch':
      return `effective batch ${plan.effectiveBatch.old} -> ${plan.effectiveBatch.new}; the data cursor counts ` +
        `samples, so it stays at sample ${plan.sampler.consumed} of epoch ${plan.sampler.epoch}`;
    case 'data':
      return plan.datasetChanged
        ? `training data changes (${oldSize} -> ${plan.dataset.size} samples): epoch ${plan.sampler.epoch} starts ` +
          'from its first sample'
        : 'the tokenized dataset is unchanged (same fingerprint)';
    case 'objective':
      return row.field === 'pref_loss'
        ? `a different loss from step ${plan.step + 1}: the weights continue, loss and rewards before and after are ` +
          'not comparable'
        : `a different reference model from step ${plan.step + 1}: rewards are measured against it from then on`;
    case 'seed':
      return `new data order: epoch ${plan.sampler.epoch} starts from its first sample in the new seed's order`;
    case 'numerics':
      return `applies from step ${plan.step + 1}`;
  }
}

function scheduleEffect(plan: ResumePlan): string {
  const seg = plan.schedule[plan.schedule.length - 1];
  if (seg.start !== plan.step) return 'the LR schedule is unchanged';
  if (seg.mode === 'restart') return `restart: a fresh schedule over the remaining ${seg.spec.totalSteps} steps`;
  if (seg.mode === 'rewarm' && seg.rampSteps > 0) {
    return `rewarm: ${seg.rampSteps} steps from the old LR to the new schedule, ${plan.totalSteps} steps in all`;
  }
  return `absolute: the new schedule at step ${plan.step}, ${plan.totalSteps} steps in all`;
}

// The plan as the text printed before the first step (and by --dry-run).
export function formatResumePlan(plan: ResumePlan): string {
  const lines: string[] = [];
  const epoch = plan.sampler.epoch + plan.sampler.consumed / plan.dataset.size;
  lines.push(`Resume plan: ${plan.checkpoint}, step ${plan.step} of ${plan.totalSteps}, epoch ${epoch.toFixed(2)}`);
  lines.push(`  resume_policy ${plan.policy}, resume_lr_mode ${plan.lrMode}, optimizer state ` +
    (plan.resetOptimizer ? 'dropped (reset_optimizer_state or a new optimizer)' : 'kept'));
  if (plan.rows.length === 0) lines.push('  config: no change that affects training');
  for (const r of plan.rows) lines.push(`  ${r.field}: ${show(r.old)} -> ${show(r.new)}: ${r.effect}`);
  if (plan.info.length > 0) lines.push('  bookkeeping (free to change under every policy, the math is unchanged):');
  for (const r of plan.info) lines.push(`    ${r.field}: ${show(r.old)} -> ${show(r.new)}`);
  lines.push(`  effective batch ${plan.effectiveBatch.old} -> ${plan.effectiveBatch.new}; data cursor epoch ` +
    `${plan.sampler.epoch}, sample ${plan.sampler.consumed} of ${plan.dataset.size}`);
  lines.push(plan.datasetChanged
    ? `  dataset fingerprint changed (now ${plan.dataset.fingerprint.slice(0, 12)}): the epoch order restarts`
    : `  dataset fingerprint unchanged (${plan.dataset.fingerprint.slice(0, 12)})`);
  if (plan.kernelPath !== null) {
    lines.push(`  kernel path ${plan.kernelPath.old} -> ${plan.kernelPath.new}: bits may differ from an uninterrupted run; ` +
      'nothing else changes');
  }
  if (plan.predatesBf16Copies) {
    lines.push('  bf16: the checkpoint predates bf16 mixed precision (its trained weights\' products ran in float32); ' +
      'from here they read bf16 copies of the float32 weights, as LLaMA-Factory\'s bf16 does');
  }
  if (plan.refusal !== null) {
    lines.push(`  REFUSED: ${plan.refusal}`);
    return lines.join('\n');
  }
  if (plan.finished) {
    lines.push(`  nothing to train: the run already reached ${plan.totalSteps} steps; ${continueHint(plan)}, or set ` +
      'overwrite_output_dir to start afresh');
    return lines.join('\n');
  }
  lines.push(...formatLrOutlook(plan.schedule, plan.step, plan.totalSteps));
  return lines.join('\n');
}

function continueHint(plan: ResumePlan): string {
  const raised = plan.rows.filter((r) => r.field === 'num_train_epochs' || r.field === 'max_steps').map((r) => r.field);
  if (plan.policy !== 'checkpoint' || raised.length === 0) return 'raise num_train_epochs or max_steps to continue';
  return `resume_policy checkpoint keeps the checkpoint's ${raised.join(' and ')}; set resume_policy config to ` +
    'continue with the new value';
}

// The LR of the next few steps and a chart of the whole run, shared by the resume plan and a fresh dry run.
export function formatLrOutlook(schedule: ScheduleSegment[], step: number, totalSteps: number): string[] {
  const next: string[] = [];
  for (let t = step; t < Math.min(totalSteps, step + 5); t++) next.push(`${t + 1}: ${lrForStep(schedule, t).toExponential(3)}`);
  const lines = [`  LR of the next steps: ${next.join(', ')}`];
  if (totalSteps > 0) {
    const values = lrCurve(schedule, 0, totalSteps, 60).map((p) => p.lr);
    lines.push(`  LR over steps 1..${totalSteps}:`);
    lines.push(...renderLrCurve(values, Math.min(60, values.length), 6).split('\n').map((l) => `    ${l}`));
  }
  return lines;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

// Object keys sorted, so `{a, b}` and `{b, a}` in lr_scheduler_kwargs compare equal.
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.keys(o).sort().map((k) => [k, canonical(o[k])]);
  }
  return v;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
