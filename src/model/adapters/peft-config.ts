// adapter_config.json of Python PEFT's LoRA, read and written. Retune writes the keys PEFT 0.21 writes (so
// `PeftModel.from_pretrained` loads our folders) and reads any PEFT LoRA config, refusing the options whose math it
// does not implement instead of silently loading a different model.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../util/errors.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface LoraSpec {
  r: number;
  alpha: number;
  dropout: number;
  // Module-name suffixes (`q_proj`) or, as in PEFT, one string that is a regex fully matching the module name.
  targetModules: string[] | string;
  useRslora: boolean;
  useDora: boolean;
  modulesToSave: string[];
  // PEFT's ensure_weight_tying: modules_to_save copies of tied weights stay one tensor (read, never written: Retune
  // trains PEFT's default, two copies).
  ensureWeightTying: boolean;
  baseModel: string | null;
}

// PEFT's scale of the low-rank product: alpha / r, or alpha / sqrt(r) for rank-stabilised LoRA.
export function loraScaling(spec: Pick<LoraSpec, 'r' | 'alpha' | 'useRslora'>): number {
  return spec.useRslora ? spec.alpha / Math.sqrt(spec.r) : spec.alpha / spec.r;
}

// PEFT's `check_target_module_exists`: an exact name, a `.suffix` match, or a full regex match for a string. The
// special value `all-linear` means every Linear but the output layer, which callers resolve before asking.
export function matchesTarget(targets: string[] | string, moduleName: string): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(moduleName);
  return targets.some((t) => moduleName === t || moduleName.endsWith(`.${t}`));
}

// PEFT's rule for modules_to_save, which also keeps such modules free of LoRA layers.
export function matchesModuleToSave(modulesToSave: string[], moduleName: string): boolean {
  return modulesToSave.some((m) => moduleName === m || moduleName.endsWith(`.${m}`));
}

type Json = Record<string, unknown>;

function field(raw: Json, key: string): unknown {
  return raw[key] === undefined ? null : raw[key];
}

function fail(path: string, key: string, why: string): never {
  throw new UsageError(`${path}: "${key}" ${why}`);
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value as object).length === 0;
  return false;
}

// Options with their own math (per-module ranks, biases, transposed weights, layer subsets): refused by name.
const UNSUPPORTED = [
  'rank_pattern', 'alpha_pattern', 'layers_to_transform', 'layers_pattern', 'exclude_modules', 'lora_bias',
  'fan_in_fan_out', 'target_parameters', 'layer_replication', 'use_qalora', 'trainable_token_indices',
  'alora_invocation_tokens', 'use_bdlora',
];

export function readAdapterConfig(dir: string): LoraSpec {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path)) throw new UsageError(`${dir}: not a LoRA adapter folder (no ${ADAPTER_CONFIG})`);
  let raw: Json;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (error) {
    throw new UsageError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${path}: not a JSON object`);
  if (raw.peft_type !== 'LORA') fail(path, 'peft_type', `is ${JSON.stringify(raw.peft_type)}; only LORA adapters are supported`);
  const taskType = field(raw, 'task_type');
  if (taskType !== null && taskType !== 'CAUSAL_LM') fail(path, 'task_type', `is ${JSON.stringify(taskType)}; expected CAUSAL_LM`);
  const bias = field(raw, 'bias');
  if (bias !== null && bias !== 'none') fail(path, 'bias', `is ${JSON.stringify(bias)}; only "none" is supported`);
  for (const key of UNSUPPORTED) {
    if (!isEmpty(field(raw, key))) fail(path, key, `is set (${JSON.stringify(raw[key])}); Retune does not support it`);
  }
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) fail(path, 'r', `must be a positive integer, got ${JSON.stringify(r)}`);
  const alpha = field(raw, 'lora_alpha') ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0)) fail(path, 'lora_alpha', `must be a positive number, got ${JSON.stringify(alpha)}`);
  const dropout = field(raw, 'lora_dropout') ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1) fail(path, 'lora_dropout', `must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const targets = field(raw, 'target_modules');
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.length > 0 && targets.every((t) => typeof t === 'string')))) {
    fail(path, 'target_modules', `must be a list of module names or a regex string, got ${JSON.stringify(targets)}`);
  }
  const modulesToSave = field(raw, 'modules_to_save') ?? [];
  if (!Array.isArray(modulesToSave) || !modulesToSave.every((m) => typeof m === 'string')) {
    fail(path, 'modules_to_save', `must be a list of module names, got ${JSON.stringify(modulesToSave)}`);
  }
  const base = field(raw, 'base_model_name_or_path');
  return {
    r,
    alpha,
    dropout,
    targetModules: targets as string[] | string,
    useRslora: field(raw, 'use_rslora') === true,
    useDora: field(raw, 'use_dora') === true,
    modulesToSave: modulesToSave as string[],
    ensureWeightTying: field(raw, 'ensure_weight_tying') === true,
    baseModel: typeof base === 'string' ? base : null,
  };
}

// The JSON PEFT writes for a LoraConfig, keys sorted as PEFT sorts them. Lists keep the caller's order so one run
// writes the same bytes every time.
export function adapterConfigJson(spec: LoraSpec): string {
  const config: Json = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: spec.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    modules_to_save: spec.modulesToSave.length > 0 ? spec.modulesToSave : null,
    peft_type: 'LORA',
    r: spec.r,
    rank_pattern: {},
    revision: null,
    target_modules: spec.targetModules,
    task_type: 'CAUSAL_LM',
    use_dora: spec.useDora,
    use_rslora: spec.useRslora,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

// Tensor names inside adapter_model.safetensors. `module` is the HF module name (`model.layers.0.self_attn.q_proj`).
export const PEFT_PREFIX = 'base_model.model.';
export const peftKeys = {
  loraA: (module: string): string => `${PEFT_PREFIX}${module}.lora_A.weight`, // (r, in)
  loraB: (module: string): string => `${PEFT_PREFIX}${module}.lora_B.weight`, // (out, r)
  magnitude: (module: string): string => `${PEFT_PREFIX}${module}.lora_magnitude_vector`, // (out)
  // A modules_to_save copy keeps the base parameter's HF name under the prefix (`base_model.model.lm_head.weight`).
  saved: (param: string): string => `${PEFT_PREFIX}${param}`,
};
