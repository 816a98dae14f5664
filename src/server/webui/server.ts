// The Retune Board's HTTP server: the built page, the JSON API and the run streams, behind the guards of
// security.ts. Every route calls the CLI's own parts (config loading, planner, trainer as a child process, export);
// the server adds no second implementation of any of them. Config paths are relative to the root, so the server
// works in it (process.chdir), as `retune train` works in the folder it is started from.
import Fastify, { type FastifyInstance } from 'fastify';
import { keyInfo } from '../../config/keys.js';
import { TRAINING_STAGES } from '../../config/schema.js';
import { retuneVersion } from '../../util/version.js';
import type { ApiError, InfoResponse } from './api-types.js';
import { chatRoutes } from './chat-routes.js';
import { evalRoutes } from './eval-routes.js';
import { EvalRuns } from './eval-runs.js';
import { configRoutes } from './config-routes.js';
import { HttpError, statusOf } from './http-error.js';
import { listDatasets, modelInfo, previewDataset } from './model-data.js';
import { RootedPaths } from './paths.js';
import { runRoutes } from './run-routes.js';
import { RunManager } from './runs.js';
import { createGuard, isLoopback, newToken, type Guard } from './security.js';
import { DEFAULT_WEB_DIR, staticRoutes } from './static.js';
import { toolRoutes } from './tool-routes.js';
import type { DatasetPreviewRequest, DatasetsResponse } from './api-types.js';

export interface BoardOptions {
  host: string;
  port: number; // 0: any free port (tests)
  root: string;
  token?: string | null; // required off loopback: generated when not given
  webDir?: string;
}

export interface Board {
  app: FastifyInstance;
  guard: Guard;
  paths: RootedPaths;
  runs: RunManager;
  url(): string; // with ?token= when one is required
  listen(): Promise<void>;
  close(): Promise<void>; // SIGTERM to running trainings and evaluations, waits for them, then stops listening
}

const PREVIEW_MAX = 50;

function infoRoutes(app: FastifyInstance, paths: RootedPaths, tokenRequired: boolean): void {
  app.get('/api/info', async (): Promise<InfoResponse> => ({
    version: retuneVersion(), root: paths.root, tokenRequired,
    // Every stage the schema names; those that do not train yet are shown but cannot be chosen.
    stages: (keyInfo('stage')?.values ?? []).map((name) => ({ name, available: TRAINING_STAGES.includes(name) })),
  }));
  app.get('/api/model', async (request) => {
    const path = (request.query as Record<string, unknown>).path;
    return modelInfo(paths.resolve(path as string, 'model path'), String(path));
  });
  app.get('/api/datasets', async (request): Promise<DatasetsResponse> => {
    const dir = (request.query as Record<string, unknown>).dir;
    return { dir: String(dir), datasets: listDatasets(paths.resolve(dir as string, 'dataset_dir')) };
  });
  app.post('/api/datasets/preview', async (request) => {
    const body = (request.body ?? {}) as Partial<DatasetPreviewRequest>;
    if (typeof body.dataset !== 'string') throw new HttpError(400, 'expected { "config": {...}, "dataset": "name" }');
    const rows = Math.min(PREVIEW_MAX, Math.max(1, Math.floor(body.rows ?? 5)));
    return previewDataset(body.config ?? {}, body.dataset, rows, (p, what) => paths.resolve(p, what));
  });
}

export function createBoard(opts: BoardOptions): Board {
  const paths = new RootedPaths(opts.root);
  process.chdir(paths.root);
  const tokenRequired = !isLoopback(opts.host);
  const token = opts.token ?? (tokenRequired ? newToken() : null);
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024, forceCloseConnections: true });
  let port = opts.port;
  const guard = createGuard({ host: opts.host, port: () => port, token });
  app.addHook('onRequest', async (request, reply) => guard.check(request, reply));
  app.setErrorHandler(async (err, _request, reply) => {
    const status = statusOf(err);
    const body: ApiError = { error: status === 500 ? `internal error: ${(err as Error).message}` : (err as Error).message };
    if (err instanceof HttpError && err.fields !== undefined) body.fields = err.fields;
    return reply.code(status).send(body);
  });
  const runs = new RunManager(paths);
  staticRoutes(app, opts.webDir ?? DEFAULT_WEB_DIR);
  infoRoutes(app, paths, token !== null);
  configRoutes(app, paths);
  runRoutes(app, paths, runs);
  toolRoutes(app, paths);
  const evals = new EvalRuns(paths);
  evalRoutes(app, paths, evals);
  chatRoutes(app, paths);
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    app, guard, paths, runs,
    url: () => `http://${hostForUrl}:${port}/${token === null ? '' : `?token=${token}`}`,
    async listen() {
      await app.listen({ host: opts.host, port: opts.port });
      const address = app.server.address();
      if (address !== null && typeof address === 'object') port = address.port;
    },
    async close() {
      await Promise.all([runs.shutdown(), evals.shutdown()]);
      await app.close();
    },
  };
}
