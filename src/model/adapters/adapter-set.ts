// The LoRA adapters installed on one model: the layers, the fully trained modules_to_save parameters, the config
// that describes them (what adapter_config.json will say), and the dropout generator they share. A model carries at
// most one such set; earlier adapters are merged into the weights before another one is installed.
import { UsageError } from '../../util/errors.js';
import type { Linear } from '../../nn/linear.js';
import { Tensor } from '../../tensor/tensor.js';
import type { CausalLM } from '../causal-lm.js';
import { LoraAdapter, type DropoutState } from './lora.js';
import { makeTrainable, moduleOf, namedLinears } from './modules.js';
import { loraScaling, matchesModuleToSave, matchesTarget, type LoraSpec } from './peft-config.js';
import { Rng, type RngState } from '../../tensor/random.js';

const INIT_STREAM = 1;
const DROPOUT_STREAM = 2;
// The HF names of the embedding and LM head weights.
export const EMBEDDING_PARAMS = ['model.embed_tokens.weight', 'lm_head.weight'];

export class AdapterSet {
  readonly spec: LoraSpec;
  readonly layers: Map<string, LoraAdapter>; // HF module name -> adapter
  readonly saved: Map<string, Tensor>; // HF parameter name -> modules_to_save parameter (the model's own tensor)
  readonly frozenEmbeddings: Map<string, Tensor>; // the embedding and LM head weights that are not modules_to_save
  private readonly dropout: DropoutState;

  constructor(
    spec: LoraSpec, layers: Map<string, LoraAdapter>, saved: Map<string, Tensor>, frozenEmbeddings: Map<string, Tensor>,
    dropout: DropoutState,
  ) {
    this.spec = spec;
    this.layers = layers;
    this.saved = saved;
    this.frozenEmbeddings = frozenEmbeddings;
    this.dropout = dropout;
  }

  // Parameters the optimizer updates, under the names PEFT gives them minus its `base_model.model.` prefix.
  trainable(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [module, layer] of this.layers) {
      for (const [name, t] of layer.parameters()) out.set(`${module}.${name}`, t);
    }
    for (const [name, t] of this.saved) out.set(name, t);
    return out;
  }

  // Dropout is drawn only while training; evaluation and generation see the deterministic layer.
  setTraining(on: boolean): void {
    this.dropout.training = on;
  }

  // Runs fn on the base model: every adapted Linear computes its base output only (PEFT's disable_adapter), which is
  // how preference training gets its reference model without a second copy of the weights.
  withoutAdapters<T>(fn: () => T): T {
    const layers = [...this.layers.values()];
    for (const layer of layers) layer.base.adapter = null;
    try {
      return fn();
    } finally {
      for (const layer of layers) layer.base.adapter = layer;
    }
  }

  getRngState(): RngState {
    return this.dropout.rng.getState();
  }

  setRngState(state: readonly number[]): void {
    this.dropout.rng.setState(state);
  }
}

export function newDropoutState(seed: number): DropoutState {
  return { rng: new Rng(seed, DROPOUT_STREAM), training: true };
}

// The Linears a spec targets (never a modules_to_save module, as in PEFT), failing when a target matches nothing.
export function targetLinears(model: CausalLM, spec: LoraSpec, source: string): Map<string, Linear> {
  const linears = namedLinears(model);
  const out = new Map<string, Linear>();
  for (const [name, linear] of linears) {
    if (matchesModuleToSave(spec.modulesToSave, name)) continue;
    if (matchesTarget(spec.targetModules, name)) out.set(name, linear);
  }
  const available = [...new Set([...linears.keys()].map((n) => n.slice(n.lastIndexOf('.') + 1)))].join(', ');
  const targets = typeof spec.targetModules === 'string' ? [spec.targetModules] : spec.targetModules;
  for (const target of targets) {
    const pattern = typeof spec.targetModules === 'string' ? target : [target];
    if (![...out.keys()].some((name) => matchesTarget(pattern, name))) {
      throw new UsageError(`${source}: LoRA target "${target}" matches no Linear module of the model (it has: ${available})`);
    }
  }
  return out;
}

// The model's parameters that modules_to_save names, made trainable float32; each name must match something.
export function modulesToSaveParams(model: CausalLM, modulesToSave: string[], source: string): Map<string, Tensor> {
  if (savesEmbeddings(modulesToSave)) untieEmbeddings(model);
  const params = model.namedParameters();
  const out = new Map<string, Tensor>();
  for (const wanted of modulesToSave) {
    let hit = false;
    for (const [name, t] of params) {
      if (!matchesModuleToSave([wanted], moduleOf(name))) continue;
      out.set(name, t);
      hit = true;
    }
    if (!hit) {
      const modules = [...new Set([...params.keys()].map((n) => moduleOf(n)).filter((m) => !/\.\d+\./.test(`${m}.`)))];
      throw new UsageError(`${source}: module "${wanted}" to train in full matches no parameter (modules outside the layers: ${modules.join(', ')})`);
    }
  }
  return out;
}

// Whether modules_to_save names the embedding or the LM head.
export function savesEmbeddings(modulesToSave: string[]): boolean {
  return EMBEDDING_PARAMS.some((name) => matchesModuleToSave(modulesToSave, moduleOf(name)));
}

// PEFT 0.21's ModulesToSaveWrapper trains a copy of each module it wraps, and ensure_weight_tying is off by default,
// so on a model with tie_word_embeddings, modules_to_save naming the embedding, the LM head or both (LLaMA-Factory's
// resize_vocab names both) leaves two weights that train apart; an unnamed one keeps the original values, frozen.
// Here the LM head gets its own copy of the embedding (equal values, so no output changes) and the model counts as
// untied from then on: its saved adapter holds both tensors, and an export writes both with tie_word_embeddings
// false, as PEFT's merge_and_unload() sets it once the two differ (transformers would otherwise re-tie the head to
// the embedding on load and lose the trained head).
function untieEmbeddings(model: CausalLM): void {
  const shared = model.embedTokens.weight;
  if (model.lmHead.weight !== shared) return;
  model.lmHead.weight = shared.bf16 !== null ? Tensor.fromBf16(shared.bf16.slice(), shared.shape) : Tensor.from(shared.data.slice(), shared.shape);
  model.config.tie_word_embeddings = false;
  model.config.raw = { ...model.config.raw, tie_word_embeddings: false };
}

// The set lives on the Linears it adapts (nn's `adapter` slot) and with whoever installed it: there is no registry.
export function hasAdapters(model: CausalLM): boolean {
  return [...namedLinears(model).values()].some((linear) => linear.adapter !== null);
}

// Installs adapters on the model. Every Linear of the model must be free of an adapter already.
export function installAdapters(
  model: CausalLM,
  spec: LoraSpec,
  layers: Map<string, LoraAdapter>,
  saved: Map<string, Tensor>,
  dropout: DropoutState,
): AdapterSet {
  if (hasAdapters(model)) throw new UsageError('the model already carries a LoRA adapter; merge it before installing another');
  for (const layer of layers.values()) layer.base.adapter = layer;
  for (const [name, t] of saved) makeTrainable(name, t);
  return new AdapterSet(spec, layers, saved, frozenEmbeddingParams(model, saved), dropout);
}

// The model's embedding and (untied) LM head weights outside modules_to_save.
export function frozenEmbeddingParams(model: CausalLM, saved: Map<string, Tensor>): Map<string, Tensor> {
  const params = model.namedParameters();
  const out = new Map<string, Tensor>();
  for (const name of EMBEDDING_PARAMS) {
    const t = params.get(name);
    if (t !== undefined && !saved.has(name)) out.set(name, t);
  }
  return out;
}

// A fresh, trainable adapter for `spec`: A kaiming-uniform from `seed`, B zero, so the model's output is unchanged.
export function createAdapters(model: CausalLM, spec: LoraSpec, seed: number): AdapterSet {
  const linears = targetLinears(model, spec, 'lora_target');
  const saved = modulesToSaveParams(model, spec.modulesToSave, 'additional_target');
  const dropout = newDropoutState(seed);
  const initRng = new Rng(seed, INIT_STREAM);
  const shape = { r: spec.r, scaling: loraScaling(spec), dropout: spec.dropout, useDora: spec.useDora };
  const layers = new Map<string, LoraAdapter>();
  for (const [name, linear] of linears) layers.set(name, LoraAdapter.fresh(linear, shape, dropout, initRng));
  return installAdapters(model, spec, layers, saved, dropout);
}
