// The planned LR of a run the Board started, kept up to date through live changes: the LR history its plan started
// with, plus every change the trainer acknowledged in trainer_log.jsonl since, applied by the trainer's own
// applyLrChange. So the running chart's planned curve is the one the trainer computes, and it coincides with the
// logged LR after a change as before it.
import { applyLrChange } from '../../train/control.js';
import type { ScheduleSegment } from '../../train/lr-history.js';
import type { TrainState } from '../../train/state.js';
import type { LogRow, LrCurves } from './api-types.js';
import { lrJson } from './plan-json.js';

export interface StartedSchedule {
  schedule: ScheduleSegment[]; // the LR history of the run's first step
  step: number; // optimizer steps done when it started
  totalSteps: number;
  changeAt: number | null; // where the plan's new segment starts (a resume that changed the schedule)
  applied: Set<string>; // ids of the live changes the history already holds
}

export function startedSchedule(state: TrainState, changeAt: number | null): StartedSchedule {
  const applied = new Set<string>();
  for (const event of state.events) if ('kind' in event && event.kind === 'lr_change') applied.add(event.id);
  return { schedule: state.schedule, step: state.global_step, totalSteps: state.total_steps, changeAt, applied };
}

// The curves after the live changes logged in `rows` (each id once, in the order the trainer applied them).
export function liveLrCurves(started: StartedSchedule, rows: LogRow[]): LrCurves {
  let schedule = started.schedule;
  const seen = new Set(started.applied);
  for (const row of rows) {
    if (row.event !== 'lr_change' || row.current_steps < started.step) continue;
    const id = String(row.id);
    if (seen.has(id)) continue;
    seen.add(id);
    schedule = applyLrChange(schedule, row.current_steps, { id, lr: row.lr as number, ramp: row.ramp as number, at: null });
  }
  return lrJson(schedule, started.step, started.totalSteps, started.changeAt);
}
