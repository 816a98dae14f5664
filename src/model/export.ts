// `retune export`: the base model with its adapters merged, written as a plain Hugging Face folder that transformers
// (or Retune) loads without PEFT: config.json, model.safetensors or shards of at most export_size GB plus the index,
// generation_config.json and the tokenizer files (the base model's, those a run that added tokens saved, or the
// tokenizer grown here by the config's tokens), and a reward model's value head. Weights are written in the base
// model's dtype, as LLaMA-Factory does. The folder appears only when complete: everything is written to a sibling and
// renamed.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RetuneError, UsageError } from '../util/errors.js';
import { checkOutputFolder, fsReason, makeOutputFolder } from '../util/folders.js';
import type { RetuneConfig } from '../config/schema.js';
import { mergeAdapterPaths, splitList } from './adapters/finetuning.js';
import { INDEX_NAME, loadModel, readIndex, WEIGHTS_NAME } from './load.js';
import { readSafetensorsHeader, type FloatDtype } from './safetensors.js';
import { saveModel } from './save.js';
import type { CausalLM } from './causal-lm.js';

export type ExportConfig = Pick<
  RetuneConfig, 'model_name_or_path' | 'adapter_name_or_path' | 'export_dir' | 'export_size' | 'stage'
>;

// A reward model's value head, beside its adapter or model (LLaMA-Factory's V_HEAD_SAFE_WEIGHTS_NAME).
export const VALUE_HEAD_FILE = 'value_head.safetensors';

export interface ExportOptions {
  chatTemplate?: string | null; // the run's template rendered as Jinja, stored in tokenizer_config.json
  // The EOS a template with replace_eos trained on (e.g. <|im_end|>): written as tokenizer_config.json's eos_token,
  // as LLaMA-Factory's export saves it, and added to generation_config.json's eos_token_id so generate stops there.
  eosToken?: { text: string; id: number } | null;
  maxShardBytes?: number; // overrides export_size (GB), for tests
  tokenizerDir?: string; // where the tokenizer files come from (a run that added tokens saved them with its adapter)
  growVocab?: (model: CausalLM) => void; // grows the base model to the config's new tokens, before adapters merge
  saveTokenizer?: (dir: string) => void; // writes a tokenizer grown here over the files copied from tokenizerDir
}

export interface ExportResult {
  dir: string;
  dtype: FloatDtype;
  files: string[];
}

const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'vocab.json', 'merges.txt',
  'added_tokens.json', 'chat_template.jinja', 'chat_template.json',
];
const DTYPES: Record<string, FloatDtype> = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' };

export async function exportModel(config: ExportConfig, opts: ExportOptions = {}): Promise<ExportResult> {
  const base = config.model_name_or_path;
  const target = config.export_dir;
  if (!base) throw new UsageError('export: model_name_or_path is required (the base model folder)');
  if (!target) throw new UsageError('export: export_dir is required (the folder receiving the merged model)');
  checkOutputFolder(target, 'export_dir');
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new UsageError(`export_dir: ${target} already exists and is not empty; choose a new folder or remove it`);
  }
  const dtype = baseDtype(base);
  // A bf16 base stays bf16 in memory: merging rounds each weight once, exactly where the file would round it.
  const model = await loadModel(base, { frozenBf16: dtype === 'BF16' });
  opts.growVocab?.(model);
  mergeAdapterPaths(model, splitList(config.adapter_name_or_path));
  if (model.generationConfig === null) model.generationConfig = generationConfigOf(model.config.raw);
  if (opts.eosToken) model.generationConfig.eos_token_id = withEos(model.generationConfig.eos_token_id, opts.eosToken.id);

  const staging = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  makeOutputFolder(dirname(target), 'export_dir');
  rmSync(staging, { recursive: true, force: true });
  try {
    mkdirSync(staging);
    saveModel(model, staging, { dtype, maxShardBytes: opts.maxShardBytes ?? config.export_size * 1e9 });
    const tokenizerDir = opts.tokenizerDir ?? base;
    for (const name of TOKENIZER_FILES) {
      if (existsSync(join(tokenizerDir, name))) copyFileSync(join(tokenizerDir, name), join(staging, name));
    }
    opts.saveTokenizer?.(staging);
    // stage rm: the value head goes along, from the last adapter or else the model folder, as LLaMA-Factory exports it.
    const head = join(splitList(config.adapter_name_or_path).at(-1) ?? base, VALUE_HEAD_FILE);
    if (config.stage === 'rm' && existsSync(head)) copyFileSync(head, join(staging, VALUE_HEAD_FILE));
    if (opts.chatTemplate || opts.eosToken) {
      updateTokenizerConfig(staging, { chat_template: opts.chatTemplate ?? undefined, eos_token: opts.eosToken?.text });
    }
    if (existsSync(target)) rmSync(target, { recursive: true });
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if ((error as NodeJS.ErrnoException).syscall === undefined) throw error;
    throw new RetuneError(`export_dir: writing ${target} failed: ${fsReason(error)}; nothing was left behind`);
  }
  return { dir: target, dtype, files: readdirSync(target).sort() };
}

// The dtype config.json declares (`dtype` in transformers v5, `torch_dtype` before), else that of the stored weights.
function baseDtype(dir: string): FloatDtype {
  const path = join(dir, 'config.json');
  let raw: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`${path}: not valid JSON (${(error as Error).message})`);
    }
  }
  const declared = raw.dtype ?? raw.torch_dtype;
  if (typeof declared === 'string' && declared in DTYPES) return DTYPES[declared];
  const first = existsSync(join(dir, WEIGHTS_NAME))
    ? join(dir, WEIGHTS_NAME)
    : join(dir, [...readIndex(join(dir, INDEX_NAME)).values()][0]);
  for (const entry of readSafetensorsHeader(first).entries.values()) {
    if (entry.dtype === 'F32' || entry.dtype === 'BF16' || entry.dtype === 'F16') return entry.dtype;
  }
  return 'F32';
}

// What transformers derives when a model has no generation_config.json: the special token ids of config.json.
function generationConfigOf(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { _from_model_config: true };
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id']) {
    if (raw[key] !== undefined && raw[key] !== null) out[key] = raw[key];
  }
  return out;
}

// generation_config's eos_token_id (a number, a list or absent) with id added, the existing ids first.
function withEos(current: unknown, id: number): number | number[] {
  const ids = (Array.isArray(current) ? current : current === undefined || current === null ? [] : [current]) as number[];
  return ids.length === 0 ? id : ids.includes(id) ? ids : [...ids, id];
}

function updateTokenizerConfig(dir: string, fields: { chat_template?: string; eos_token?: string }): void {
  const path = join(dir, 'tokenizer_config.json');
  let config: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`${path}: not valid JSON (${(error as Error).message})`);
    }
  }
  if (fields.chat_template !== undefined) config.chat_template = fields.chat_template;
  if (fields.eos_token !== undefined) config.eos_token = fields.eos_token;
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  // A chat_template.jinja next to it would take precedence in transformers; the run's template must win.
  if (fields.chat_template !== undefined) rmSync(join(dir, 'chat_template.jinja'), { force: true });
}
