// Evaluate & Predict runs of the Board: `retune train <output_dir>/eval_args.yaml` with do_train false, as a child
// process exactly as the CLI runs it, and the results it leaves in output_dir (HF's and LLaMA-Factory's files).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalEvent, EvalPart, EvalResults, EvalStatus, PredictionRow } from './api-types.js';
import { ChildRun, DirListeners, stopAll } from './child-run.js';
import { HttpError } from './http-error.js';
import type { RootedPaths } from './paths.js';

export const EVAL_ARGS_FILE = 'eval_args.yaml';
const RESULT_FILES: Record<EvalPart, string> = { eval: 'eval_results.json', predict: 'predict_results.json' };
const PREDICTIONS_FILE = 'generated_predictions.jsonl';
const SHOWN_PREDICTIONS = 20;

interface EvalChild {
  child: ChildRun;
  parts: EvalPart[];
  startedMs: number;
}

function readMetrics(path: string): Record<string, number> | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>;
  } catch (err) {
    throw new HttpError(422, `${path}: not valid JSON (${(err as Error).message})`);
  }
}

// What the CLI wrote in `dir`: metrics of each part and the first generated predictions.
export function evalResults(paths: RootedPaths, dir: string): EvalResults {
  const lines = existsSync(join(dir, PREDICTIONS_FILE))
    ? readFileSync(join(dir, PREDICTIONS_FILE), 'utf8').split('\n').filter((l) => l.trim() !== '')
    : [];
  const predictions = lines.slice(0, SHOWN_PREDICTIONS).map((line, i): PredictionRow => {
    try {
      const row = JSON.parse(line) as Partial<PredictionRow>;
      return { prompt: String(row.prompt ?? ''), predict: String(row.predict ?? ''), label: String(row.label ?? '') };
    } catch {
      throw new HttpError(422, `${paths.show(join(dir, PREDICTIONS_FILE))}: line ${i + 1} is not JSON`);
    }
  });
  return {
    dir: paths.show(dir), eval: readMetrics(join(dir, RESULT_FILES.eval)), predict: readMetrics(join(dir, RESULT_FILES.predict)),
    predictions, predictionCount: lines.length,
  };
}

export class EvalRuns {
  private readonly runs = new Map<string, EvalChild>(); // by real output dir
  private readonly listeners = new DirListeners<EvalEvent>();

  constructor(private readonly paths: RootedPaths) {}

  running(dir: string): boolean {
    return this.runs.get(dir)?.child.running === true;
  }

  start(dir: string, argsFile: string, parts: EvalPart[]): { pid: number; argv: string[] } {
    let done = '';
    const statusChanged = (): void => {
      const status = this.status(dir);
      const now = `${status.state}|${status.done.join()}`;
      if (now !== done) this.listeners.emit(dir, { type: 'status', status });
      done = now;
    };
    const child = new ChildRun(['retune', 'train', this.paths.show(argsFile)], this.paths.root, (stream, line) => {
      this.listeners.emit(dir, { type: 'log', stream, line });
      statusChanged(); // the CLI prints a part's metrics once it has written them
    }, statusChanged);
    this.runs.set(dir, { child, parts, startedMs: Date.now() });
    statusChanged();
    return { pid: child.process.pid as number, argv: child.argv };
  }

  status(dir: string): EvalStatus {
    const run = this.runs.get(dir);
    const base = { dir: this.paths.show(dir), parts: run?.parts ?? [], argv: run?.child.argv ?? [] };
    if (run === undefined) return { ...base, state: 'idle', message: '', done: [] };
    const done = run.parts.filter((part) => (statSync(join(dir, RESULT_FILES[part]), { throwIfNoEntry: false })?.mtimeMs ?? 0) >= run.startedMs);
    const { child } = run;
    if (child.running) return { ...base, state: 'running', message: '', done };
    if (child.exit?.code === 0) return { ...base, state: 'finished', message: '', done };
    if (child.stopBy() !== null) return { ...base, state: 'stopped', message: `stopped (${child.stopBy()})`, done };
    return { ...base, state: 'failed', message: child.failure(), done };
  }

  // Console lines so far, then the live ones and every status change, of the run in `dir`.
  subscribe(dir: string, send: (event: EvalEvent) => void): () => void {
    for (const { stream, line } of this.runs.get(dir)?.child.lines ?? []) send({ type: 'log', stream, line });
    return this.listeners.add(dir, send);
  }

  stop(dir: string): boolean {
    const child = this.runs.get(dir)?.child;
    if (child?.running !== true) return false;
    child.process.kill('SIGTERM');
    return true;
  }

  shutdown(): Promise<void> {
    return stopAll([...this.runs.values()].map((r) => r.child));
  }
}
