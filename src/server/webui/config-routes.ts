// Config routes: form metadata, validation with the CLI's messages, YAML load/save in training_args.yaml form, and
// the exact `retune train` command Start runs. A config's paths must lie under the root like any other path.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseDocument } from 'yaml';
import { checkConfigObject, loadConfig, resolvedConfigText, saveResolvedConfig, type LoadedConfig } from '../../config/load.js';
import type { RetuneConfig } from '../../config/schema.js';
import type {
  CommandResponse, ConfigRequest, LoadConfigResponse, PathRequest, RawConfig, SaveConfigRequest, SaveConfigResponse,
  ValidateResponse,
} from './api-types.js';
import { HttpError } from './http-error.js';
import { formKeys } from './keys.js';
import type { RootedPaths } from './paths.js';
import { splitList } from '../../model/adapters/finetuning.js';

const FORM = 'form';
// Config keys naming files or folders the run reads or writes.
const PATH_KEYS = ['model_name_or_path', 'dataset_dir', 'output_dir', 'tokenized_path', 'export_dir', 'resume_from_checkpoint'] as const;

function rawOf(body: unknown): RawConfig {
  const config = (body as Partial<ConfigRequest> | null)?.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new HttpError(400, 'expected a JSON body { "config": { key: value, ... } }');
  }
  return config;
}

// Every path of a resolved config lies under the root (403 otherwise).
function checkConfigPaths(paths: RootedPaths, config: RetuneConfig): void {
  for (const key of PATH_KEYS) {
    const value = config[key];
    if (typeof value === 'string' && value !== '') paths.resolve(value, key);
  }
  for (const adapter of splitList(config.adapter_name_or_path)) {
    paths.resolve(adapter, 'adapter_name_or_path');
  }
}

// The config of a request body, valid and with its paths under the root, or a 400 listing every field's problem.
export function validConfig(paths: RootedPaths, body: unknown): LoadedConfig {
  const { loaded, problems } = checkConfigObject(rawOf(body), FORM);
  if (loaded === null) {
    throw new HttpError(400, problems.map((p) => p.message).join('\n'), problems.map((p) => ({ key: p.key, message: p.message })));
  }
  checkConfigPaths(paths, loaded.config);
  return loaded;
}

function trainArgv(config: RetuneConfig): string[] {
  if (config.output_dir === null) throw new HttpError(400, 'output_dir is required to train', [{ key: 'output_dir', message: 'output_dir: required to train' }]);
  return ['retune', 'train', `${config.output_dir.replace(/\/+$/, '')}/training_args.yaml`];
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

function yamlPath(paths: RootedPaths, body: unknown): string {
  const path = (body as Partial<PathRequest> | null)?.path;
  if (typeof path !== 'string') throw new HttpError(400, 'expected a JSON body { "path": "file.yaml" }');
  if (!/\.ya?ml$/i.test(path)) throw new HttpError(400, `${path}: a config file ends in .yaml or .yml`);
  return paths.resolve(path, 'config file');
}

export function configRoutes(app: FastifyInstance, paths: RootedPaths): void {
  app.get('/api/config/keys', async () => formKeys());

  app.post('/api/config/validate', async (request): Promise<ValidateResponse> => {
    const { loaded, problems } = checkConfigObject(rawOf(request.body), FORM);
    if (loaded === null) return { ok: false, fields: problems, resolved: null, notices: [] };
    checkConfigPaths(paths, loaded.config);
    return { ok: true, fields: [], resolved: loaded.config as RawConfig, notices: loaded.notices };
  });

  app.post('/api/config/load', async (request): Promise<LoadConfigResponse> => {
    const file = yamlPath(paths, request.body);
    const doc = parseDocument(readFileSync(file, 'utf8'), { uniqueKeys: true });
    // loadConfig names the line and column of a syntax error as the CLI prints it.
    if (doc.errors.length > 0) loadConfig(file, []);
    const config = doc.toJS() as unknown;
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new HttpError(400, `${paths.show(file)}: expected a mapping of key: value at the top level`);
    }
    const { problems } = checkConfigObject(config as RawConfig, paths.show(file));
    return { path: paths.show(file), config: config as RawConfig, fields: problems };
  });

  app.post('/api/config/save', async (request): Promise<SaveConfigResponse> => {
    const file = yamlPath(paths, request.body);
    const loaded = validConfig(paths, { config: (request.body as SaveConfigRequest).config });
    saveResolvedConfig(loaded.config, file);
    return { path: paths.show(file) };
  });

  app.post('/api/config/command', async (request): Promise<CommandResponse> => {
    const { config } = validConfig(paths, request.body);
    const argv = trainArgv(config);
    return { argv, command: argv.map(shellQuote).join(' '), yaml: resolvedConfigText(config, 'training_args.yaml') };
  });
}

export function argsFileOf(paths: RootedPaths, config: RetuneConfig): string {
  return join(paths.resolve(config.output_dir as string, 'output_dir'), 'training_args.yaml');
}
