// What a run tells the world while it trains: trainer_log.jsonl (LLaMA-Factory's fields, plus grad_norm and event
// rows, followed by the web UI), and the console (a progress bar on a TTY, plain lines otherwise). Remaining time is
// estimated from the steps done by this process only, so a resumed run does not count the steps it skipped as free.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { writeTextAtomic } from '../util/write-atomic.js';
import { join } from 'node:path';

export const TRAINER_LOG = 'trainer_log.jsonl';

export interface StepRow {
  current_steps: number;
  total_steps: number;
  loss: number;
  lr: number; // the LR this step ran with
  grad_norm: number;
  epoch: number;
  percentage: number;
  elapsed_time: string;
  remaining_time: string;
  throughput: number; // tokens per second in this process
  total_tokens: number;
}

// eval_loss plus the stage's own: eval_perplexity (pt/sft), eval_rewards/chosen, ... (dpo).
export interface EvalRow {
  current_steps: number;
  total_steps: number;
  eval_loss?: number;
  epoch: number;
  [metric: string]: number | undefined;
}

export interface EventRow {
  current_steps: number;
  event: 'resume' | 'skipped_step' | 'stopped' | 'saved' | 'lr_change' | 'control_error';
  [key: string]: unknown;
}

export type LogRow = StepRow | EvalRow | EventRow;

// "H:MM:SS" like Python's str(timedelta) without microseconds, which LLaMA-Factory writes.
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

// The rows of a trainer_log.jsonl ([] when there is none).
export function readLogRows(path: string): LogRow[] {
  if (!existsSync(path)) return [];
  const out: LogRow[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() !== '') out.push(JSON.parse(line) as LogRow);
  }
  return out;
}

export class TrainLog {
  private readonly path: string;
  private readonly print: (line: string) => void;
  private readonly tty: boolean;
  private readonly startTime = Date.now();
  private readonly startStep: number;
  private tokensThisProcess = 0;
  private barShown = false;

  constructor(outputDir: string, startStep: number, print: (line: string) => void, tty: boolean) {
    this.path = join(outputDir, TRAINER_LOG);
    this.startStep = startStep;
    this.print = print;
    this.tty = tty;
  }

  // On resume, rows logged after the checkpoint by the interrupted run describe steps that will run again; they are
  // dropped (the file is rewritten atomically) so the log reads as one consistent run. Returns how many were dropped.
  truncateAfter(step: number): number {
    if (!existsSync(this.path)) return 0;
    const lines = readFileSync(this.path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const kept = lines.filter((l) => {
      try {
        return (JSON.parse(l) as { current_steps?: number }).current_steps! <= step;
      } catch {
        return false; // a line cut short by a kill
      }
    });
    if (kept.length === lines.length) return 0;
    writeTextAtomic(this.path, kept.map((l) => l + '\n').join(''));
    return lines.length - kept.length;
  }

  // Every complete row, for the loss plot.
  rows(): LogRow[] {
    return readLogRows(this.path);
  }

  reset(): void {
    writeFileSync(this.path, '');
  }

  elapsedSeconds(): number {
    return (Date.now() - this.startTime) / 1000;
  }

  addTokens(n: number): void {
    this.tokensThisProcess += n;
  }

  // Remaining time from this process's own pace: (elapsed / steps done here) * steps left.
  timing(step: number, totalSteps: number): { elapsed: string; remaining: string; throughput: number } {
    const elapsed = this.elapsedSeconds();
    const done = step - this.startStep;
    const remaining = done > 0 ? (elapsed / done) * (totalSteps - step) : 0;
    const throughput = elapsed > 0 ? this.tokensThisProcess / elapsed : 0;
    return { elapsed: formatDuration(elapsed), remaining: formatDuration(remaining), throughput };
  }

  write(row: LogRow): void {
    appendFileSync(this.path, JSON.stringify(row) + '\n');
  }

  // metrics: the stage's own (rewards/chosen, ...), written into the row under their names and shown after the loss.
  step(row: StepRow, metrics: Record<string, number> = {}): void {
    this.write({ ...row, ...metrics });
    const shown = Object.entries(metrics).map(([k, v]) => ` ${k} ${v.toFixed(4)}`).join('');
    const text = `step ${row.current_steps}/${row.total_steps} loss ${row.loss.toFixed(4)}${shown} lr ${row.lr.toExponential(3)} ` +
      `grad_norm ${row.grad_norm.toFixed(4)} epoch ${row.epoch.toFixed(2)} [${row.elapsed_time} < ${row.remaining_time}]`;
    if (this.tty) {
      const width = 20;
      const filled = Math.round((row.percentage / 100) * width);
      process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
      this.barShown = true;
    } else {
      this.print(text);
    }
  }

  // Messages that must stand on their own line even while a progress bar is drawn.
  message(line: string): void {
    if (this.barShown) {
      process.stdout.write('\n');
      this.barShown = false;
    }
    this.print(line);
  }
}
