// Run routes: list runs, one run's detail and checkpoints, the plan, Start / Stop / Abort, live LR control, and the
// server-sent events that follow a run (log rows from trainer_log.jsonl, console lines, state changes).
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parse } from 'yaml';
import { checkTrainConfig, saveResolvedConfig } from '../../config/load.js';
import { listCheckpointDirs, MANIFEST_FILE, verifyCheckpoint, type Verification } from '../../train/checkpoint.js';
import { requestLrChange } from '../../train/control.js';
import { planTraining } from '../../train/index.js';
import type {
  CheckpointInfo, ControlRequest, ControlResponse, LogRow, LrCurves, PlanResponse, RawConfig, RunDetail, RunEvent,
  RunRequest, RunsResponse, RunStatusResponse, StartResponse,
} from './api-types.js';
import { argsFileOf, validConfig } from './config-routes.js';
import { HttpError } from './http-error.js';
import { liveLrCurves, startedSchedule, type StartedSchedule } from './live-lr.js';
import { LogTail, parseRows } from './log-tail.js';
import type { RootedPaths } from './paths.js';
import { planJson } from './plan-json.js';
import { LOG_FILE, type RunManager } from './runs.js';
import { openStream } from './sse.js';

// Verifying hashes every file of a checkpoint, which is slow for large models; the answer is kept while no file of
// the folder changes size or modification time.
const verified = new Map<string, { stamp: string; result: Verification }>();

function verifyOnce(path: string): Verification {
  const stamp = readdirSync(path, { withFileTypes: true }).map((e) => {
    const s = statSync(join(path, e.name));
    return `${e.name}:${s.size}:${s.mtimeMs}`;
  }).sort().join('|');
  const known = verified.get(path);
  if (known !== undefined && known.stamp === stamp) return known.result;
  const result = verifyCheckpoint(path);
  verified.set(path, { stamp, result });
  return result;
}

function checkpointsOf(dir: string, rows: LogRow[]): CheckpointInfo[] {
  return listCheckpointDirs(dir).map(({ step, name, path }) => {
    const v = verifyOnce(path);
    let loss: number | null = null;
    for (const row of rows) {
      if (row.event === undefined && typeof row.loss === 'number' && row.current_steps <= step) loss = row.loss;
    }
    const manifest = statSync(join(path, MANIFEST_FILE), { throwIfNoEntry: false });
    return {
      name, step, time: (manifest ?? statSync(path)).mtime.toISOString(), loss, verified: v.ok,
      reason: v.ok ? null : v.reason, weightsOnly: v.ok ? v.manifest.weightsOnly : false,
    };
  });
}

function readArgs(dir: string): RawConfig | null {
  const stat = statSync(join(dir, 'training_args.yaml'), { throwIfNoEntry: false });
  if (stat === undefined) return null;
  const value = parse(readFileSync(join(dir, 'training_args.yaml'), 'utf8')) as unknown;
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as RawConfig) : null;
}

function dirOf(paths: RootedPaths, value: unknown): string {
  if (typeof value !== 'string') throw new HttpError(400, 'expected the output dir as "dir"');
  const dir = paths.resolve(value, 'dir');
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new HttpError(404, `${value}: no such folder`);
  return dir;
}

function readRows(dir: string): LogRow[] {
  const log = join(dir, LOG_FILE);
  return statSync(log, { throwIfNoEntry: false }) === undefined ? [] : parseRows(readFileSync(log, 'utf8'));
}

export function runRoutes(app: FastifyInstance, paths: RootedPaths, runs: RunManager): void {
  // The LR history each run this server started began with (by real output dir), for its live planned curve.
  const schedules = new Map<string, StartedSchedule>();

  app.get('/api/runs', async (): Promise<RunsResponse> => ({ runs: runs.list() }));

  app.get('/api/runs/detail', async (request): Promise<RunDetail> => {
    const dir = dirOf(paths, (request.query as Record<string, unknown>).dir);
    const rows = readRows(dir);
    return { summary: runs.summary(dir), config: readArgs(dir), checkpoints: checkpointsOf(dir, rows), rows };
  });

  app.get('/api/runs/lr', async (request): Promise<LrCurves> => {
    const dir = dirOf(paths, (request.query as Record<string, unknown>).dir);
    const started = schedules.get(dir);
    if (started === undefined) throw new HttpError(404, `${paths.show(dir)}: not started by this Board; its LR plan is in the resume panel`);
    return liveLrCurves(started, readRows(dir));
  });

  app.post('/api/runs/plan', async (request): Promise<PlanResponse> => {
    const { config } = validConfig(paths, request.body);
    return planJson(await planTraining(config, () => undefined));
  });

  // Start runs exactly what the plan shows: a refused plan, or one with nothing to train, starts nothing and writes
  // nothing.
  app.post('/api/runs/start', async (request, reply): Promise<StartResponse> => {
    const loaded = validConfig(paths, request.body);
    checkTrainConfig(loaded);
    const config = loaded.config;
    const argsFile = argsFileOf(paths, config);
    const dir = paths.resolve(config.output_dir as string, 'output_dir');
    if (runs.running(dir)) throw new HttpError(409, `${paths.show(dir)}: a run is already training there; stop it first`);
    const planned = await planTraining(config, () => undefined);
    if (planned.plan?.refusal) throw new HttpError(409, planned.plan.refusal);
    if (planned.state === null) throw new HttpError(409, `${paths.show(dir)}: nothing to train: the run already reached ${planned.plan?.totalSteps} steps`);
    mkdirSync(dir, { recursive: true });
    saveResolvedConfig(config, argsFile);
    const { pid, argv } = runs.start(dir, argsFile);
    schedules.set(dir, startedSchedule(planned.state, planJson(planned).lr.changeAt));
    reply.code(201);
    return { dir: paths.show(dir), pid, argv };
  });

  const signalRoute = (signal: 'SIGTERM' | 'SIGKILL') => async (request: FastifyRequest): Promise<RunStatusResponse> => {
    const dir = dirOf(paths, (request.body as Partial<RunRequest> | null)?.dir);
    if (!runs.signal(dir, signal)) throw new HttpError(409, `${paths.show(dir)}: no run is training there`);
    return { summary: runs.summary(dir) };
  };
  app.post('/api/runs/stop', signalRoute('SIGTERM'));
  app.post('/api/runs/abort', signalRoute('SIGKILL'));

  app.post('/api/runs/control', async (request): Promise<ControlResponse> => {
    const body = (request.body ?? {}) as Partial<ControlRequest>;
    const dir = dirOf(paths, body.dir);
    if (!runs.running(dir)) throw new HttpError(409, `${paths.show(dir)}: no run is training there; change learning_rate in the form and resume instead`);
    return { id: requestLrChange(dir, { lr: body.lr as number, ramp: body.ramp ?? 0 }).id };
  });

  app.get('/api/runs/events', async (request, reply) => {
    const dir = dirOf(paths, (request.query as Record<string, unknown>).dir);
    const stream = openStream<RunEvent>(reply);
    stream.send({ type: 'status', summary: runs.summary(dir) });
    stream.onClose(runs.subscribe(dir, stream.send));
    let lastState = '';
    const tail = new LogTail(join(dir, LOG_FILE), (rows) => {
      for (const row of rows) stream.send({ type: 'row', row });
      const summary = runs.summary(dir);
      if (summary.state !== lastState) stream.send({ type: 'status', summary });
      lastState = summary.state;
    }, () => stream.send({ type: 'reset' }));
    tail.start();
    stream.onClose(() => tail.close());
  });
}
