// `retune api cfg.yaml [key=value ...]`: an OpenAI-compatible server for the model (and adapters) of a chat config.
// API_HOST (127.0.0.1), API_PORT (8000), API_KEY and API_MODEL_NAME come from the environment, as in LLaMA-Factory.
import { loadConfig, requireKeys } from '../config/load.js';
import { InferenceEngine } from '../infer/engine.js';
import { openFromConfig } from '../infer/open.js';
import { checkExposure, createApiServer } from '../server/api/app.js';
import { UsageError } from '../util/errors.js';
import { parseArgs } from './args.js';
import { startEngine } from './engine.js';
import { printConfigNotices } from './notices.js';

export async function runApiCommand(args: string[]): Promise<number> {
  const { configPath, overrides } = parseArgs('api', args, {});
  const loaded = loadConfig(configPath, overrides);
  printConfigNotices(loaded);
  requireKeys(loaded, ['model_name_or_path'], 'to serve');
  const host = process.env.API_HOST || '127.0.0.1';
  const port = Number(process.env.API_PORT || '8000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`API_PORT=${process.env.API_PORT} is not a port number (0-65535)`);
  const apiKey = process.env.API_KEY || null;
  const modelName = process.env.API_MODEL_NAME || 'gpt-3.5-turbo';
  checkExposure(host, apiKey);
  startEngine(loaded.config);
  const config = loaded.config;
  const engine = new InferenceEngine(await openFromConfig(config), { skipSpecialTokens: config.skip_special_tokens, defaultMaxNewTokens: config.max_new_tokens });
  const app = createApiServer({ engine, config, modelName }, { apiKey });
  const address = await app.listen({ host, port });
  process.stdout.write(`Retune API on ${address}/v1 (model ${modelName}${apiKey ? ', API key required' : ''}); Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => void app.close().then(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
