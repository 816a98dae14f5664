// Evaluate & Predict routes: start `retune train` with do_train false (do_eval / do_predict) on the form's config or a
// run's trained weights, follow its console and progress, stop it, and read its results. The config is checked by
// the CLI's own checks first, so a bad one is refused with the CLI's message and nothing is written.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { saveResolvedConfig } from '../../config/load.js';
import type { EvalEvent, EvalPart, EvalResults, EvalStartRequest, EvalStatus, RawConfig, RunRequest, StartResponse } from './api-types.js';
import { validConfig } from './config-routes.js';
import { EVAL_ARGS_FILE, evalResults, type EvalRuns } from './eval-runs.js';
import { HttpError } from './http-error.js';
import type { RootedPaths } from './paths.js';
import { runModelConfig } from './run-model.js';
import { LOG_FILE } from './runs.js';
import { openStream } from './sse.js';

const FORM = 'form';

function dirOf(paths: RootedPaths, value: unknown): string {
  if (typeof value !== 'string') throw new HttpError(400, 'expected the results folder as "dir"');
  return paths.resolve(value, 'dir');
}

// A training run's folder keeps its own files: results go to a folder of their own.
function checkNotTrainingDir(paths: RootedPaths, dir: string): void {
  const training = existsSync(dir) && (existsSync(join(dir, LOG_FILE)) || existsSync(join(dir, 'training_args.yaml')) ||
    readdirSync(dir).some((name) => /^checkpoint-\d+$/.test(name)));
  if (training) {
    throw new HttpError(409, `output_dir ${paths.show(dir)} holds a training run; choose another folder for the results ` +
      `(e.g. ${paths.show(dir)}-eval)`, [{ key: 'output_dir', message: `output_dir: ${paths.show(dir)} holds a training run` }]);
  }
}

function configOf(paths: RootedPaths, body: Partial<EvalStartRequest> | null): RawConfig {
  const config = body?.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new HttpError(400, 'expected a JSON body { "config": { key: value, ... }, "run"?: "output dir" }');
  }
  if (body?.run === undefined || body.run === '') return config;
  const model = runModelConfig(paths, body.run, typeof config.template === 'string' ? config.template : undefined);
  return { ...config, ...model };
}

export function evalRoutes(app: FastifyInstance, paths: RootedPaths, evals: EvalRuns): void {
  app.post('/api/evaluate/start', async (request, reply): Promise<StartResponse> => {
    const loaded = validConfig(paths, { config: configOf(paths, request.body as Partial<EvalStartRequest> | null) });
    const { config } = loaded;
    if (config.do_train) {
      throw new HttpError(400, 'do_train: Evaluate & Predict runs with do_train: false; train in the Train tab',
        [{ key: 'do_train', message: 'do_train: must be false here' }]);
    }
    const parts: EvalPart[] = [...(config.do_eval ? ['eval' as const] : []), ...(config.do_predict ? ['predict' as const] : [])];
    if (parts.length === 0) throw new HttpError(400, 'choose do_eval, do_predict or both', [{ key: 'do_eval', message: 'do_eval: or do_predict: true' }]);
    // Imported here: the similarity metrics load jieba's dictionary.
    const { checkEvalPredictConfig } = await import('../../infer/predict.js');
    checkEvalPredictConfig(config, FORM);
    const dir = paths.resolve(config.output_dir as string, 'output_dir');
    if (evals.running(dir)) throw new HttpError(409, `${paths.show(dir)}: an evaluation is running there; stop it first`);
    checkNotTrainingDir(paths, dir);
    mkdirSync(dir, { recursive: true });
    const argsFile = join(dir, EVAL_ARGS_FILE);
    saveResolvedConfig(config, argsFile);
    const { pid, argv } = evals.start(dir, argsFile, parts);
    reply.code(201);
    return { dir: paths.show(dir), pid, argv };
  });

  app.post('/api/evaluate/stop', async (request): Promise<EvalStatus> => {
    const dir = dirOf(paths, (request.body as Partial<RunRequest> | null)?.dir);
    if (!evals.stop(dir)) throw new HttpError(409, `${paths.show(dir)}: no evaluation is running there`);
    return evals.status(dir);
  });

  app.get('/api/evaluate/events', async (request, reply) => {
    const dir = dirOf(paths, (request.query as Record<string, unknown>).dir);
    const stream = openStream<EvalEvent>(reply);
    stream.send({ type: 'status', status: evals.status(dir) });
    stream.onClose(evals.subscribe(dir, stream.send));
  });

  app.get('/api/evaluate/results', async (request): Promise<EvalResults> => {
    const dir = dirOf(paths, (request.query as Record<string, unknown>).dir);
    if (!existsSync(dir)) throw new HttpError(404, `${paths.show(dir)}: no such folder`);
    return evalResults(paths, dir);
  });
}
