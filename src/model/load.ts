// Loads a Hugging Face model folder: config.json, then model.safetensors or the shards named by
// model.safetensors.index.json, then generation_config.json when present. Every tensor the config implies must be
// there with the implied shape, and every tensor in the files must be used: a mismatch means the config and the
// weights disagree, which would otherwise surface as nonsense outputs.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError, UsageError } from '../util/errors.js';
import { f32ToBf16, Tensor } from '../tensor/tensor.js';
import { assembleModel } from './assemble.js';
import type { CausalLM } from './causal-lm.js';
import { readModelConfig, type ModelConfig } from './config.js';
import { readSafetensors, type StoredTensor } from './safetensors.js';

export const WEIGHTS_NAME = 'model.safetensors';
export const INDEX_NAME = 'model.safetensors.index.json';
export const GENERATION_CONFIG_NAME = 'generation_config.json';

export interface LoadOptions {
  frozenBf16?: boolean; // hold weights as bf16 bits (half the memory); trainable ones are widened when unfrozen
}

export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<CausalLM> {
  const config = readModelConfig(dir);
  const frozenBf16 = opts.frozenBf16 ?? false;
  const files = readWeights(dir, frozenBf16);
  const tensors = new Map<string, Tensor>();
  const fileOf = new Map<string, string>();
  for (const [file, stored] of files) {
    for (const [name, t] of stored) {
      tensors.set(name, toTensor(t, frozenBf16));
      fileOf.set(name, file);
    }
  }
  const where = files.length === 1 ? files[0][0] : join(dir, INDEX_NAME);
  const model = buildModel(config, tensors, (name) => fileOf.get(name) ?? where);
  model.generationConfig = readGenerationConfig(dir);
  return model;
}

function toTensor(t: StoredTensor, frozenBf16: boolean): Tensor {
  if (!frozenBf16) return new Tensor(t.data, t.shape);
  return Tensor.fromBf16(t.bf16 ?? f32ToBf16(t.data), t.shape);
}

// [file path, its tensors] for every weight file of the folder.
function readWeights(dir: string, keepBf16: boolean): [string, Map<string, StoredTensor>][] {
  const single = join(dir, WEIGHTS_NAME);
  if (existsSync(single)) return [[single, readSafetensors(single, { keepBf16, floatsOnly: true })]];
  const indexPath = join(dir, INDEX_NAME);
  if (!existsSync(indexPath)) {
    const pickle = existsSync(join(dir, 'pytorch_model.bin'))
      ? ' (pytorch_model.bin is a pickle, which Retune does not read; convert it to safetensors)'
      : '';
    throw new UsageError(`${dir}: no ${WEIGHTS_NAME} or ${INDEX_NAME}${pickle}`);
  }
  const byFile = new Map<string, string[]>();
  for (const [name, file] of readIndex(indexPath)) {
    const list = byFile.get(file) ?? [];
    list.push(name);
    byFile.set(file, list);
  }
  return [...byFile].map(([file, names]) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new RetuneError(`${indexPath}: shard ${file} (holding "${names[0]}") does not exist`);
    return [path, readSafetensors(path, { keepBf16, names, floatsOnly: true })];
  });
}

export function readIndex(path: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new RetuneError(`${path}: cannot read the shard index (${(error as Error).message})`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new RetuneError(`${path}: weight_map is missing or not an object`);
  }
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || file === '' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
      throw new RetuneError(`${path}: weight_map["${name}"] must be a file name in the same folder, got ${JSON.stringify(file)}`);
    }
    out.set(name, file);
  }
  return out;
}

function readGenerationConfig(dir: string): Record<string, unknown> | null {
  const path = join(dir, GENERATION_CONFIG_NAME);
  if (!existsSync(path)) return null;
  try {
    const json: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`${path}: ${(error as Error).message}`);
  }
}

// Older checkpoints store buffers that transformers recomputes; they carry no information we need.
const IGNORED = /\.rotary_emb\.inv_freq$/;

// Assembles the model from HF-named tensors, checking that the files hold exactly what the config implies.
// `fileOf(name)` names where a tensor came from, for error messages.
export function buildModel(config: ModelConfig, tensors: Map<string, Tensor>, fileOf: (name: string) => string): CausalLM {
  const used = new Set<string>();
  const model = assembleModel(config, (name, shape) => {
    const t = tensors.get(name);
    if (t === undefined) throw new RetuneError(`${fileOf(name)}: tensor "${name}" is missing (config.json needs it)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new RetuneError(`${fileOf(name)}: tensor "${name}" has shape [${t.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`);
    }
    used.add(name);
    return t;
  });
  // A tied checkpoint may still carry an lm_head copy; transformers ties it to the embedding regardless.
  if (config.tie_word_embeddings && tensors.has('lm_head.weight')) used.add('lm_head.weight');
  const unused = [...tensors.keys()].filter((name) => !used.has(name) && !IGNORED.test(name));
  if (unused.length > 0) {
    const shown = unused.slice(0, 3).map((n) => `"${n}"`).join(', ');
    throw new RetuneError(`${fileOf(unused[0])}: tensor ${shown}${unused.length > 3 ? ` and ${unused.length - 3} more` : ''} not used by a ${config.model_type} model with this config.json`);
  }
  return model;
}
