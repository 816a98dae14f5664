// The train plan (src/train/index.ts planTraining, the planner `retune train` prints) as the page's JSON: the same
// rows, refusal and cursor, plus the LR of the steps already run and to come from the run's LR history.
import type { TrainPlan } from '../../train/index.js';
import { lrCurve, type ScheduleSegment } from '../../train/lr-history.js';
import type { LrCurves, PlanResponse, PlanRowJson } from './api-types.js';

const CURVE_POINTS = 200;

function rowsJson(rows: { field: string; old: unknown; new: unknown; kind: string; effect: string }[]): PlanRowJson[] {
  return rows.map((r) => ({ field: r.field, old: r.old, new: r.new, kind: r.kind, effect: r.effect }));
}

function segmentsJson(schedule: ScheduleSegment[]): PlanResponse['segments'] {
  return schedule.map((s) => ({ start: s.start, mode: s.mode, baseLr: s.spec.baseLr, rampSteps: s.rampSteps }));
}

// The LR of the steps already run (before `step`) and to come (up to `totalSteps`) under an LR history.
export function lrJson(schedule: ScheduleSegment[], step: number, totalSteps: number, changeAt: number | null): LrCurves {
  return {
    done: schedule.length === 0 || step === 0 ? [] : lrCurve(schedule, 0, step, CURVE_POINTS),
    planned: schedule.length === 0 || step >= totalSteps ? [] : lrCurve(schedule, step, totalSteps, CURVE_POINTS),
    changeAt,
  };
}

export function planJson(p: TrainPlan): PlanResponse {
  const { plan, runConfig } = p;
  if (plan === null) {
    const state = p.state!;
    return {
      kind: 'fresh', text: p.text, checkpoint: null, step: 0, totalSteps: state.total_steps,
      policy: runConfig.resume_policy, lrMode: runConfig.resume_lr_mode, refusal: null, finished: false, rows: [], info: [],
      cursor: { epoch: 0, consumed: 0, datasetSize: state.dataset.size, datasetChanged: false },
      effectiveBatch: { old: 0, new: runConfig.per_device_train_batch_size * runConfig.gradient_accumulation_steps },
      resetOptimizer: false, segments: segmentsJson(state.schedule),
      lr: lrJson(state.schedule, 0, state.total_steps, null),
    };
  }
  // A weights-only checkpoint has no LR history: the plan refuses and there is no curve to draw.
  const schedule = plan.schedule;
  const changed = p.saved !== null && JSON.stringify(schedule) !== JSON.stringify(p.saved.schedule);
  return {
    kind: 'resume', text: p.text, checkpoint: plan.checkpoint, step: plan.step, totalSteps: plan.totalSteps,
    policy: plan.policy, lrMode: plan.lrMode, refusal: plan.refusal, finished: plan.finished,
    rows: rowsJson(plan.rows), info: rowsJson(plan.info),
    cursor: { ...plan.sampler, datasetSize: plan.dataset.size, datasetChanged: plan.datasetChanged },
    effectiveBatch: plan.effectiveBatch, resetOptimizer: plan.resetOptimizer, segments: segmentsJson(schedule),
    lr: lrJson(schedule, plan.step, plan.finished ? plan.step : plan.totalSteps, changed ? schedule[schedule.length - 1].start : null),
  };
}
