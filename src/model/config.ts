// The parts of a Hugging Face config.json that decide the math of a Llama-family decoder. Both spellings of the RoPE
// settings are read: `rope_theta` + `rope_scaling` (hub checkpoints before transformers v5) and `rope_parameters`
// (v5). Anything we would silently compute differently (another activation, an unknown RoPE type) is refused here,
// naming the file and the field.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { RopeScaling } from '../tensor/rope.js';

export const MODEL_TYPES = ['llama', 'qwen2', 'qwen3', 'mistral'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

const ROPE_TYPES = ['default', 'linear', 'llama3'];

export interface ModelConfig {
  model_type: ModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  qkv_bias: boolean; // q/k/v projections carry a bias (always in Qwen2, `attention_bias` elsewhere)
  o_bias: boolean;
  mlp_bias: boolean;
  qk_norm: boolean; // per-head RMSNorm of q and k (Qwen3)
  // Attention window in tokens when the config enables one for some layer: there a token attends to itself and the
  // window - 1 tokens before it. null: no layer has a window.
  sliding_window: number | null;
  // Per layer: whether sliding_window applies (Mistral: every layer; Qwen2/Qwen3: transformers' layer_types, by
  // default the layers from max_window_layers on).
  sliding_layers: boolean[];
  eos_token_id: number[];
  raw: Record<string, unknown>; // the file as read, written back by saveModel
}

type Raw = Record<string, unknown>;

class Fields {
  constructor(
    private readonly raw: Raw,
    private readonly source: string,
  ) {}

  error(key: string, what: string): UsageError {
    return new UsageError(`${this.source}: ${key} ${what}`);
  }

  int(key: string, fallback?: number): number {
    const value = this.raw[key] ?? fallback;
    if (value === undefined) throw this.error(key, 'is missing');
    if (!Number.isSafeInteger(value) || (value as number) <= 0) throw this.error(key, `must be a positive integer, got ${JSON.stringify(value)}`);
    return value as number;
  }

  positive(key: string, fallback: number, value: unknown = this.raw[key]): number {
    const v = value ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw this.error(key, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'boolean') throw this.error(key, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }
}

export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${path}: cannot read the model config (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseModelConfig(raw, path);
}

export function parseModelConfig(raw: unknown, source: string): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${source}: not a JSON object`);
  const r = raw as Raw;
  const f = new Fields(r, source);
  const modelType = r.model_type;
  if (typeof modelType !== 'string' || !(MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw f.error('model_type', `${JSON.stringify(modelType)} is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  }
  const act = r.hidden_act ?? 'silu';
  if (act !== 'silu') throw f.error('hidden_act', `${JSON.stringify(act)} is not supported (only silu)`);

  const hidden = f.int('hidden_size');
  const nHead = f.int('num_attention_heads');
  const nKV = f.int('num_key_value_heads', nHead);
  if (nHead % nKV !== 0) throw f.error('num_key_value_heads', `(${nKV}) must divide num_attention_heads (${nHead})`);
  if (r.head_dim == null && hidden % nHead !== 0) {
    throw f.error('head_dim', `is missing and hidden_size ${hidden} is not a multiple of num_attention_heads ${nHead}`);
  }
  const headDim = r.head_dim == null ? hidden / nHead : f.int('head_dim');
  if (headDim % 2 !== 0) throw f.error('head_dim', `must be even for RoPE, got ${headDim}`);

  const type = modelType as ModelType;
  const attentionBias = f.bool('attention_bias', false);
  return {
    model_type: type,
    vocab_size: f.int('vocab_size'),
    hidden_size: hidden,
    intermediate_size: f.int('intermediate_size'),
    num_hidden_layers: f.int('num_hidden_layers'),
    num_attention_heads: nHead,
    num_key_value_heads: nKV,
    head_dim: headDim,
    rms_norm_eps: f.positive('rms_norm_eps', 1e-6),
    ...rope(r, f),
    max_position_embeddings: f.int('max_position_embeddings', 2048),
    tie_word_embeddings: f.bool('tie_word_embeddings', false),
    qkv_bias: type === 'qwen2' || attentionBias,
    o_bias: type !== 'qwen2' && attentionBias,
    mlp_bias: f.bool('mlp_bias', false),
    qk_norm: type === 'qwen3',
    ...slidingWindow(r, type, f),
    eos_token_id: eosIds(r, f),
    raw: r,
  };
}

function rope(r: Raw, f: Fields): { rope_theta: number; rope_scaling: RopeScaling | null } {
  let theta: unknown = r.rope_theta;
  let scaling: unknown = r.rope_scaling ?? null;
  let key = 'rope_scaling';
  if (r.rope_parameters !== undefined && r.rope_parameters !== null) {
    const params = r.rope_parameters;
    if (typeof params !== 'object' || Array.isArray(params)) throw f.error('rope_parameters', 'must be an object');
    const { rope_theta: t, ...rest } = params as Raw;
    theta = t;
    scaling = rest;
    key = 'rope_parameters';
  }
  const ropeTheta = f.positive('rope_theta', 10000, theta);
  if (scaling === null) return { rope_theta: ropeTheta, rope_scaling: null };
  if (typeof scaling !== 'object' || Array.isArray(scaling)) throw f.error(key, 'must be an object or null');
  const s = scaling as RopeScaling;
  const kind = s.rope_type ?? s.type ?? 'default';
  if (!ROPE_TYPES.includes(kind)) throw f.error(`${key}.rope_type`, `'${kind}' is not supported (supported: ${ROPE_TYPES.join(', ')})`);
  if (kind !== 'default' && !(typeof s.factor === 'number' && s.factor > 0)) {
    throw f.error(`${key}.factor`, `must be a positive number for ${kind}`);
  }
  if (kind === 'llama3' && !Number.isSafeInteger(s.original_max_position_embeddings)) {
    throw f.error(`${key}.original_max_position_embeddings`, 'must be an integer for llama3');
  }
  return { rope_theta: ropeTheta, rope_scaling: kind === 'default' ? null : { ...s, rope_type: kind } };
}

// Mistral applies `sliding_window` whenever it is set, in every layer (MistralModel builds one mask for all of them,
// whatever layer_types says). Qwen2/Qwen3 only with `use_sliding_window`, and only in the layers layer_types calls
// 'sliding_attention'; without layer_types, transformers makes those the layers i >= max_window_layers (default 28).
function slidingWindow(r: Raw, type: ModelType, f: Fields): { sliding_window: number | null; sliding_layers: boolean[] } {
  const nLayers = f.int('num_hidden_layers');
  const none = { sliding_window: null, sliding_layers: new Array<boolean>(nLayers).fill(false) };
  if (type === 'llama') return none;
  if (type !== 'mistral' && r.use_sliding_window !== true) return none;
  if (r.sliding_window === undefined || r.sliding_window === null) return none;
  const window = f.int('sliding_window');
  if (type === 'mistral') return { sliding_window: window, sliding_layers: new Array<boolean>(nLayers).fill(true) };
  let layers: boolean[];
  const types = r.layer_types;
  if (types === undefined || types === null) {
    const from = r.max_window_layers ?? 28;
    if (!Number.isSafeInteger(from) || (from as number) < 0) {
      throw f.error('max_window_layers', `must be a non-negative integer, got ${JSON.stringify(from)}`);
    }
    layers = Array.from({ length: nLayers }, (_, i) => i >= (from as number));
  } else {
    const kinds = ['sliding_attention', 'full_attention'];
    if (!Array.isArray(types) || types.length !== nLayers || !types.every((t) => kinds.includes(t as string))) {
      throw f.error('layer_types', `must list 'sliding_attention' or 'full_attention' for each of the ${nLayers} layers`);
    }
    layers = types.map((t) => t === 'sliding_attention');
  }
  return layers.includes(true) ? { sliding_window: window, sliding_layers: layers } : none;
}

function eosIds(r: Raw, f: Fields): number[] {
  const eos = r.eos_token_id;
  if (eos === undefined || eos === null) return [];
  const list = Array.isArray(eos) ? eos : [eos];
  if (!list.every((id) => Number.isSafeInteger(id) && id >= 0)) {
    throw f.error('eos_token_id', `must be a token id or a list of them, got ${JSON.stringify(eos)}`);
  }
  return list as number[];
}
