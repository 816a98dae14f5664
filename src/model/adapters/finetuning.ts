// applyFinetuning: decides what a run trains, with LLaMA-Factory's keys and rules (model/adapter.py):
//   full   every parameter, in float32;
//   freeze the last N layers (first -N when negative), optionally only some modules inside them, plus named modules
//          outside the layers (freeze_extra_modules);
//   lora   LoRA/rsLoRA/DoRA layers on lora_target (`all` = every Linear except lm_head) plus additional_target
//          trained in full (PEFT modules_to_save). adapter_name_or_path folders are merged into the weights in order,
//          except that the last one is trained further unless create_new_adapter asks for a fresh adapter on top.
// Everything not trained is frozen; frozen weights keep whatever precision the model was loaded with (bf16 with
// `bf16: true`) while trained ones are made float32.
import { UsageError } from '../../util/errors.js';
import type { RetuneConfig } from '../../config/schema.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { CausalLM } from '../causal-lm.js';
import { createAdapters, type AdapterSet } from './adapter-set.js';
import { makeTrainable, namedLinears } from './modules.js';
import type { LoraSpec } from './peft-config.js';
import { loadAdapter, mergeAdapters } from './peft-io.js';

export type FinetuningConfig = Pick<
  RetuneConfig,
  | 'finetuning_type' | 'lora_rank' | 'lora_alpha' | 'lora_dropout' | 'lora_target' | 'additional_target' | 'use_rslora'
  | 'use_dora' | 'create_new_adapter' | 'freeze_trainable_layers' | 'freeze_trainable_modules'
  | 'freeze_extra_modules' | 'adapter_name_or_path' | 'model_name_or_path' | 'seed'
>;

export interface Finetuning {
  trainable: Map<string, Tensor>; // what the optimizer updates, by name
  adapters: AdapterSet | null; // the LoRA set being trained (dropout RNG state, train/eval switch)
}

export function splitList(value: string | null | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

// `resumeAdapter`: a LoRA checkpoint's adapter folder, trained further in place of the one the config starts from.
export function applyFinetuning(model: CausalLM, config: FinetuningConfig, resumeAdapter: string | null = null): Finetuning {
  const adapterPaths = splitList(config.adapter_name_or_path);
  if (adapterPaths.length > 0 && config.finetuning_type !== 'lora') {
    throw new UsageError(`adapter_name_or_path: adapters are only valid with finetuning_type lora (got ${config.finetuning_type})`);
  }
  for (const t of model.namedParameters().values()) t.requiresGrad = false;
  if (config.finetuning_type === 'full') return { trainable: trainAll(model), adapters: null };
  if (config.finetuning_type === 'freeze') return { trainable: trainLayers(model, config), adapters: null };
  const adapters = setUpLora(model, config, adapterPaths, resumeAdapter);
  return { trainable: adapters.trainable(), adapters };
}

// The trained weights that products read: trained Linear weights and the LM head's (tied or not). bf16 mixed
// precision gives each a bf16 copy (src/tensor/bf16-copies.ts).
export function trainedProductWeights(model: CausalLM, trainable: Map<string, Tensor>): Tensor[] {
  const trained = new Set(trainable.values());
  const weights = new Set<Tensor>();
  for (const linear of namedLinears(model).values()) if (trained.has(linear.weight)) weights.add(linear.weight);
  if (trained.has(model.lmHead.weight)) weights.add(model.lmHead.weight);
  return [...weights];
}

// Merges every adapter of the list into the weights, in order: how chat, evaluation and export apply adapters.
export function mergeAdapterPaths(model: CausalLM, paths: string[]): void {
  for (const path of paths) mergeAdapters(loadAdapter(model, path));
}

function trainAll(model: CausalLM): Map<string, Tensor> {
  const params = model.namedParameters();
  for (const [name, t] of params) makeTrainable(name, t);
  return params;
}

function trainLayers(model: CausalLM, config: FinetuningConfig): Map<string, Tensor> {
  const params = model.namedParameters();
  const names = [...params.keys()];
  const nLayers = 1 + Math.max(-1, ...names.map((n) => Number(/^model\.layers\.(\d+)\./.exec(n)?.[1] ?? -1)));
  const n = config.freeze_trainable_layers;
  const layerIds: number[] = [];
  if (n > 0) for (let i = Math.max(0, nLayers - n); i < nLayers; i++) layerIds.push(i);
  else for (let i = 0; i < Math.min(-n, nLayers); i++) layerIds.push(i);

  // LLaMA-Factory's module vocabularies: names right after a layer index, and names of parameters outside layers.
  const hidden = new Set(names.filter((n) => n.includes('.0.')).map((n) => n.split('.0.').at(-1)!.split('.')[0]));
  const outside = new Set(names.filter((n) => !/\.\d+\./.test(n)).map((n) => n.split('.').at(-2)!));
  const patterns: string[] = [];
  const extra = new Set<string>();
  for (const module of splitList(config.freeze_trainable_modules)) {
    if (module !== 'all' && !hidden.has(module)) {
      throw new UsageError(`freeze_trainable_modules: module "${module}" is not found; choose from ${[...hidden].join(', ')}`);
    }
    for (const id of layerIds) patterns.push(`.${id}.${module === 'all' ? '' : module}`);
  }
  for (const module of splitList(config.freeze_extra_modules)) {
    if (!outside.has(module)) {
      throw new UsageError(`freeze_extra_modules: module "${module}" is not found; choose from ${[...outside].join(', ')}`);
    }
    extra.add(module);
  }
  // LLaMA-Factory matches extra modules as substrings, so `norm` would also pick every layer's layernorms; here they
  // name whole modules outside the layers, as the error message's list says.
  const isExtra = (name: string): boolean => !/\.\d+\./.test(name) && extra.has(name.split('.').at(-2)!);
  const trainable = new Map<string, Tensor>();
  for (const [name, t] of params) {
    if (!patterns.some((p) => name.includes(p)) && !isExtra(name)) continue;
    makeTrainable(name, t);
    trainable.set(name, t);
  }
  return trainable;
}

function setUpLora(model: CausalLM, config: FinetuningConfig, adapterPaths: string[], resumeAdapter: string | null): AdapterSet {
  const continues = adapterPaths.length > 0 && !config.create_new_adapter;
  mergeAdapterPaths(model, continues ? adapterPaths.slice(0, -1) : adapterPaths);
  const trained = resumeAdapter ?? (continues ? adapterPaths[adapterPaths.length - 1] : null);
  if (trained !== null) return loadAdapter(model, trained, { trainable: true, seed: config.seed });
  return createAdapters(model, loraSpecOf(model, config), config.seed);
}

// LoRA settings from the run's config; `all` becomes the list of Linear names LLaMA-Factory's
// find_all_linear_modules gives (every Linear but the output layer).
function loraSpecOf(model: CausalLM, config: FinetuningConfig): LoraSpec {
  let targets = splitList(config.lora_target);
  if (targets.length === 1 && targets[0] === 'all') {
    const names = [...namedLinears(model).keys()].map((n) => n.slice(n.lastIndexOf('.') + 1));
    targets = [...new Set(names)].filter((n) => n !== 'lm_head');
  }
  return {
    r: config.lora_rank,
    alpha: config.lora_alpha,
    dropout: config.lora_dropout,
    targetModules: targets,
    useRslora: config.use_rslora,
    useDora: config.use_dora,
    modulesToSave: splitList(config.additional_target),
    ensureWeightTying: false,
    baseModel: config.model_name_or_path,
  };
}
