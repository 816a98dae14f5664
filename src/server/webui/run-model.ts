// A run's output dir as the model to chat with or evaluate: its training_args.yaml names the base model and template,
// and the dir itself holds the trained adapter (LoRA) or the trained model (freeze/full).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { RawConfig } from './api-types.js';
import { HttpError } from './http-error.js';
import type { RootedPaths } from './paths.js';

// model_name_or_path, adapter_name_or_path and template of the run in `runDir` (`template` given: it wins).
export function runModelConfig(paths: RootedPaths, runDir: string, template?: string): RawConfig {
  const dir = paths.resolve(runDir, 'dir');
  const args = join(dir, 'training_args.yaml');
  if (!existsSync(args)) throw new HttpError(400, `${runDir}: no training_args.yaml: not a run's output dir`);
  const run = parse(readFileSync(args, 'utf8')) as RawConfig;
  const lora = run.finetuning_type === 'lora';
  const weights = join(dir, lora ? 'adapter_model.safetensors' : 'model.safetensors');
  if (!existsSync(weights)) throw new HttpError(400, `${runDir}: no final weights yet (the run has not finished)`);
  return {
    model_name_or_path: lora ? run.model_name_or_path : runDir,
    adapter_name_or_path: lora ? [run.adapter_name_or_path, runDir].filter((p) => typeof p === 'string' && p !== '').join(',') : run.adapter_name_or_path,
    template: template ?? run.template,
  };
}
