// Adapter folders in Python PEFT's layout: adapter_config.json + adapter_model.safetensors with keys
// `base_model.model.<module>.lora_A.weight` (r, in), `...lora_B.weight` (out, r), `...lora_magnitude_vector` (out)
// for DoRA, and `base_model.model.<param>` for modules_to_save (and, once the vocabulary grew, for the embedding
// layers outside it). Loading checks that the file holds exactly the tensors its config implies for this model, so a
// mismatched adapter fails with the tensor's name.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../util/errors.js';
import { writeTextAtomic } from '../../util/write-atomic.js';
import { f32ToBf16 } from '../dtype.js';
import { readSafetensors, writeSafetensors, type StoredTensor, type TensorToWrite } from '../safetensors.js';
import { Tensor } from '../../tensor/tensor.js';
import type { CausalLM } from '../causal-lm.js';
import {
  EMBEDDING_PARAMS, frozenEmbeddingParams, hasAdapters, installAdapters, modulesToSaveParams, newDropoutState, savesEmbeddings,
  targetLinears, type AdapterSet,
} from './adapter-set.js';
import { moduleOf } from './modules.js';
import { readModelConfig } from '../config.js';
import { LoraAdapter } from './lora.js';
import { growVocab } from '../vocab.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson, loraScaling, peftKeys, readAdapterConfig } from './peft-config.js';

export interface LoadAdapterOptions {
  trainable?: boolean; // continue training it (a warm start) rather than only running it
  seed?: number; // seeds its dropout when trained
}

// Installs the adapter in `dir` on the model. Its own adapter_config.json decides rank, alpha, targets and DoRA.
export function loadAdapter(model: CausalLM, dir: string, opts: LoadAdapterOptions = {}): AdapterSet {
  if (hasAdapters(model)) throw new UsageError(`${dir}: the model already carries a LoRA adapter; merge it before loading another`);
  const spec = readAdapterConfig(dir);
  const configPath = join(dir, ADAPTER_CONFIG);
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) {
    const pickled = existsSync(join(dir, 'adapter_model.bin')) ? ' (adapter_model.bin is a pickle; save it with safe_serialization=True)' : '';
    throw new UsageError(`${dir}: no ${ADAPTER_WEIGHTS}${pickled}`);
  }
  const stored = readSafetensors(weightsPath, { floatsOnly: true });
  const used = new Set<string>();
  const take = (key: string, shape: number[]): Tensor => {
    const t = stored.get(key);
    if (t === undefined) throw new UsageError(`${weightsPath}: tensor "${key}" is missing (${configPath} targets its module)`);
    checkShape(weightsPath, key, t, shape);
    used.add(key);
    return Tensor.from(t.data, shape);
  };

  growToAdapter(model, stored);
  if (opts.trainable && spec.ensureWeightTying && model.lmHead.weight === model.embedTokens.weight &&
    savesEmbeddings(spec.modulesToSave)) {
    throw new UsageError(`${configPath}: ensure_weight_tying is true, so PEFT trains this tied model's embedding and LM head as ` +
      'one tensor; Retune trains them as two copies (PEFT\'s default) and cannot continue it. Set create_new_adapter: true ' +
      'to merge it and train a new adapter on top');
  }
  const linears = targetLinears(model, spec, configPath);
  const dropout = newDropoutState(opts.seed ?? 0);
  const shape = { r: spec.r, scaling: loraScaling(spec), dropout: spec.dropout, useDora: spec.useDora };
  const layers = new Map<string, LoraAdapter>();
  for (const [name, linear] of linears) {
    const [out, inF] = linear.weight.shape;
    const A = take(peftKeys.loraA(name), [spec.r, inF]);
    const B = take(peftKeys.loraB(name), [out, spec.r]);
    const magnitude = spec.useDora ? take(peftKeys.magnitude(name), [out]) : null;
    layers.set(name, new LoraAdapter(linear, shape, dropout, A, B, magnitude));
  }
  const saved = modulesToSaveParams(model, spec.modulesToSave, configPath);
  const savedValues = [...saved].map(([name, param]) => [param, take(peftKeys.saved(name), param.shape)] as const);
  // PEFT's save_embedding_layers layout: a grown embedding layer outside modules_to_save under its own name, and each
  // modules_to_save one also as its copy and its original (infixes); the copy is the tensor taken above.
  const frozenValues = [...frozenEmbeddingParams(model, saved)].filter(([name]) => stored.has(peftKeys.saved(name)))
    .map(([name, param]) => [param, take(peftKeys.saved(name), param.shape)] as const);
  for (const [name, param] of saved) {
    for (const infix of ['modules_to_save', 'original_module']) {
      const key = peftKeys.saved(`${moduleOf(name)}.${infix}.weight`);
      if (stored.has(key)) take(key, param.shape);
    }
  }
  const unused = [...stored.keys()].filter((key) => !used.has(key));
  if (unused.length > 0) {
    throw new UsageError(`${weightsPath}: tensor "${unused[0]}" belongs to no module that ${configPath} targets in this model` +
      (unused.length > 1 ? ` (and ${unused.length - 1} more)` : ''));
  }
  // The model changes only once the whole file has been checked.
  for (const [param, values] of savedValues) {
    param.bf16 = null;
    param.data = values.data;
  }
  for (const [param, values] of frozenValues) {
    if (param.bf16 !== null) param.bf16 = f32ToBf16(values.data);
    else param.data = values.data;
  }
  const set = installAdapters(model, spec, layers, saved, dropout);
  if (!opts.trainable) {
    set.setTraining(false);
    for (const t of set.trainable().values()) t.requiresGrad = false;
  }
  return set;
}

// An adapter trained with resize_vocab carries the grown embedding and LM head (modules_to_save): the model grows to
// their row count first (the stored rows then replace all of it), as LLaMA-Factory resizes the base model before
// PEFT loads the adapter.
function growToAdapter(model: CausalLM, stored: Map<string, StoredTensor>): void {
  const rows = Math.max(...EMBEDDING_PARAMS.map((name) => stored.get(peftKeys.saved(name))?.shape[0] ?? 0));
  if (rows > model.embedTokens.weight.shape[0]) {
    growVocab(model, { size: rows, newTokenIds: [], init: 'noise_init', descriptions: null, seed: 0 });
  }
}

function checkShape(path: string, key: string, t: StoredTensor, shape: number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new UsageError(`${path}: tensor "${key}" has shape [${t.shape.join(', ')}] but the model needs [${shape.join(', ')}]`);
  }
}

// Writes an adapter set in PEFT layout; `model_name_or_path` is recorded as base_model_name_or_path.
export function saveAdapter(set: AdapterSet, dir: string, config: { model_name_or_path?: string | null }): void {
  const tensors = new Map<string, TensorToWrite>();
  const f32 = (t: Tensor): TensorToWrite => ({ dtype: 'F32', shape: t.shape, data: t.values() });
  for (const [module, layer] of set.layers) {
    tensors.set(peftKeys.loraA(module), f32(layer.A));
    tensors.set(peftKeys.loraB(module), f32(layer.B));
    if (layer.magnitude !== null) tensors.set(peftKeys.magnitude(module), f32(layer.magnitude));
  }
  for (const [name, param] of set.saved) tensors.set(peftKeys.saved(name), f32(param));
  const spec = { ...set.spec, baseModel: config.model_name_or_path ?? set.spec.baseModel };
  for (const [name, param] of grownEmbeddings(set, spec.baseModel)) tensors.set(peftKeys.saved(name), f32(param));
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeTextAtomic(join(dir, ADAPTER_CONFIG), adapterConfigJson(spec));
}

// PEFT's save_embedding_layers "auto" (its default, which LLaMA-Factory's saves use): once the vocabulary has grown
// past the base model's vocab_size, the embedding layers outside modules_to_save are saved too, under their own
// names, so the rows the growth drew load back as trained with instead of being drawn again.
function grownEmbeddings(set: AdapterSet, baseDir: string | null): Map<string, Tensor> {
  if (baseDir === null || !existsSync(join(baseDir, 'config.json'))) return new Map();
  const baseRows = readModelConfig(baseDir).vocab_size;
  return new Map([...set.frozenEmbeddings].filter(([, t]) => t.shape[0] > baseRows));
}

// Folds every adapter layer into its base weight (kept in the weight's own precision) and removes the adapters. The
// modules_to_save parameters already live in the model, so they simply stay.
export function mergeAdapters(set: AdapterSet): void {
  for (const layer of set.layers.values()) {
    const weight = layer.base.weight;
    const merged = layer.mergedWeight(); // (out, in)
    if (weight.bf16 !== null) weight.bf16 = f32ToBf16(merged);
    else weight.data.set(merged);
    layer.base.adapter = null;
  }
  for (const t of set.saved.values()) t.requiresGrad = false;
}

