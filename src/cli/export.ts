// `retune export cfg.yaml [key=value ...]`: merge adapter_name_or_path into model_name_or_path and write an HF folder
// at export_dir (src/model/export.ts does the work; it refuses a non-empty export_dir and writes atomically).
import { loadConfig, requireKeys } from '../config/load.js';
import { exportModel } from '../model/export.js';
import { parseArgs } from './args.js';
import { printConfigNotices } from './notices.js';
import { startEngine } from './engine.js';

export async function runExportCommand(args: string[]): Promise<number> {
  const { configPath, overrides } = parseArgs('export', args, {});
  const loaded = loadConfig(configPath, overrides);
  printConfigNotices(loaded);
  requireKeys(loaded, ['model_name_or_path', 'export_dir'], 'to export');
  startEngine(loaded.config);
  const { config } = loaded;
  const adapters = (config.adapter_name_or_path ?? '').split(',').filter((p) => p !== '');
  const result = await exportModel(config);
  const merged = adapters.length === 0 ? '' : ` with ${adapters.length} adapter${adapters.length > 1 ? 's' : ''} merged`;
  process.stdout.write(`Exported ${config.model_name_or_path}${merged} to ${result.dir} (${result.dtype}): ${result.files.join(', ')}\n`);
  return 0;
}
