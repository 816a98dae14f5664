// Writes a model back in the layout it was loaded from: config.json, model.safetensors (or HF-named shards plus
// model.safetensors.index.json when it exceeds maxShardBytes), generation_config.json. A tied lm_head is not written,
// as transformers does. Each file appears atomically; weight files of an earlier save in another layout are removed
// afterwards so the folder never mixes two models.

import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { CausalLM } from './causal-lm.js';
import { GENERATION_CONFIG_NAME, INDEX_NAME, WEIGHTS_NAME } from './load.js';
import { writeSafetensors, type FloatDtype, type TensorToWrite } from './safetensors.js';
import { writeJsonAtomic } from '../util/write-atomic.js';

export interface SaveOptions {
  dtype?: FloatDtype; // default F32
  maxShardBytes?: number; // default 5 GB, transformers' long-standing default
}

const TORCH_DTYPE: Record<FloatDtype, string> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };
const ITEM_BYTES: Record<FloatDtype, number> = { F32: 4, BF16: 2, F16: 2 };
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

export function saveModel(model: CausalLM, dir: string, opts: SaveOptions = {}): void {
  const dtype = opts.dtype ?? 'F32';
  if (!(dtype in TORCH_DTYPE)) throw new UsageError(`saveModel: dtype must be F32, BF16 or F16, got ${JSON.stringify(dtype)}`);
  const maxShardBytes = opts.maxShardBytes ?? 5e9;
  if (!(maxShardBytes > 0)) throw new UsageError(`saveModel: maxShardBytes must be positive, got ${maxShardBytes}`);
  mkdirSync(dir, { recursive: true });

  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.namedParameters()) {
    // Frozen bf16 weights are written from their bits when the target is bf16, so nothing is rounded twice.
    const data = t.bf16 !== null && dtype === 'BF16' ? t.bf16 : t.values();
    tensors.set(name, { dtype, shape: t.shape, data });
  }
  const shards = splitShards(tensors, maxShardBytes);
  const written = new Set<string>();
  if (shards.length === 1) {
    writeSafetensors(join(dir, WEIGHTS_NAME), tensors, { format: 'pt' });
    written.add(WEIGHTS_NAME);
  } else {
    const fileOf = new Map<string, string>();
    let totalSize = 0;
    let totalParameters = 0;
    shards.forEach((names, i) => {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
      writeSafetensors(join(dir, file), new Map(names.map((n) => [n, tensors.get(n)!])), { format: 'pt' });
      for (const n of names) {
        fileOf.set(n, file);
        totalSize += byteSize(tensors.get(n)!);
        totalParameters += tensors.get(n)!.data.length;
      }
      written.add(file);
    });
    // Sorted keys, as transformers writes the index.
    const weightMap = Object.fromEntries([...fileOf].sort(([a], [b]) => (a < b ? -1 : 1)));
    writeJsonAtomic(join(dir, INDEX_NAME), { metadata: { total_parameters: totalParameters, total_size: totalSize }, weight_map: weightMap });
    written.add(INDEX_NAME);
  }
  writeJsonAtomic(join(dir, 'config.json'), configJson(model.config.raw, dtype));
  if (model.generationConfig !== null) writeJsonAtomic(join(dir, GENERATION_CONFIG_NAME), model.generationConfig);
  removeStaleWeights(dir, written);
}

function byteSize(t: TensorToWrite): number {
  return t.shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[t.dtype];
}

// transformers' rule: tensors in order, a new shard starts when the next tensor would push the current one past the
// limit (a single tensor larger than the limit gets a shard of its own).
function splitShards(tensors: Map<string, TensorToWrite>, maxBytes: number): string[][] {
  const shards: string[][] = [[]];
  let size = 0;
  for (const [name, t] of tensors) {
    const bytes = byteSize(t);
    if (size + bytes > maxBytes && shards[shards.length - 1].length > 0) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(name);
    size += bytes;
  }
  return shards;
}

function configJson(raw: Record<string, unknown>, dtype: FloatDtype): Record<string, unknown> {
  const out = { ...raw };
  // transformers v5 writes `dtype`, earlier versions `torch_dtype`; both read either, so keep the file's spelling.
  if ('dtype' in out) out.dtype = TORCH_DTYPE[dtype];
  if ('torch_dtype' in out || !('dtype' in out)) out.torch_dtype = TORCH_DTYPE[dtype];
  return out;
}

function removeStaleWeights(dir: string, written: Set<string>): void {
  for (const name of readdirSync(dir)) {
    const ours = name === WEIGHTS_NAME || name === INDEX_NAME || SHARD_NAME.test(name);
    if (ours && !written.has(name)) rmSync(join(dir, name));
  }
}
