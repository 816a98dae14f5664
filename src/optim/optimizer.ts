// What AdamW and SGD share: the parameters they update, HF's weight-decay grouping, and the state format that
// checkpoints store (optimizer.safetensors holds `tensors` as named fp32 arrays, train_state.json holds `step`).

import { RetuneError } from '../util/errors.js';

// The part of a Tensor (src/tensor/tensor.ts) an optimizer touches; any Map<string, Tensor> of trainable
// parameters fits it.
export interface OptimParam {
  data: Float32Array;
  grad: Float32Array | null;
}

export type NamedParams = ReadonlyMap<string, OptimParam>;

export interface OptimizerState {
  step: number; // optimizer steps done; the AdamW bias correction counts from it
  tensors: Map<string, Float32Array>; // 'exp_avg.<name>', 'exp_avg_sq.<name>'
}

export interface Optimizer {
  readonly kind: 'adamw' | 'sgd';
  readonly stepCount: number;
  step(lr: number): void; // the LR is always passed in, never kept between steps
  zeroGrad(): void;
  state(): OptimizerState;
  loadState(state: OptimizerState): void;
  paramGroups(): { decay: string[]; noDecay: string[] };
}

// HF Trainer.get_decay_parameter_names: no weight decay for biases and LayerNorm/RMSNorm weights, matched on the
// lowercased name (Llama: input_layernorm, post_attention_layernorm, model.norm; Qwen3: q_norm, k_norm).
const NO_DECAY_PATTERNS = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/];

export function decaysWeight(name: string): boolean {
  const lower = name.toLowerCase();
  return !NO_DECAY_PATTERNS.some((pattern) => pattern.test(lower));
}

// Names in sorted order, so every loop over parameters (updates, norms, state) runs in one fixed order.
export function sortedNames(params: NamedParams): string[] {
  return [...params.keys()].sort();
}

// A trainable parameter must hold fp32 values (a frozen bf16 weight keeps an empty `data`).
export function checkParam(name: string, param: OptimParam): OptimParam {
  if (param.data.length === 0) throw new RetuneError(`optimizer: parameter ${name} has no fp32 values to update`);
  return param;
}

// The gradient to apply, or null to skip the parameter; one of the wrong size would corrupt the update.
export function gradOf(name: string, param: OptimParam): Float32Array | null {
  const grad = param.grad;
  if (grad !== null && grad.length !== param.data.length) {
    throw new RetuneError(`optimizer: gradient of ${name} has ${grad.length} values, the parameter has ${param.data.length}`);
  }
  return grad;
}

export function splitDecay(names: readonly string[]): { decay: string[]; noDecay: string[] } {
  return { decay: names.filter(decaysWeight), noDecay: names.filter((n) => !decaysWeight(n)) };
}

export function checkLr(lr: number): void {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new RetuneError(`optimizer step: learning rate must be finite and >= 0, got ${lr}`);
}

export function checkStateStep(step: number, kind: string): void {
  if (!(Number.isInteger(step) && step >= 0)) {
    throw new RetuneError(`${kind} optimizer state: step must be an integer >= 0, got ${step}`);
  }
}

// Copies `expected` buffers out of a saved state, naming the first tensor that is missing, unexpected or of the
// wrong size, before anything is overwritten.
export function readStateTensors(
  kind: string,
  saved: Map<string, Float32Array>,
  expected: ReadonlyMap<string, Float32Array>,
): void {
  for (const key of saved.keys()) {
    if (!expected.has(key)) throw new RetuneError(`${kind} optimizer state: tensor ${key} matches no trainable parameter`);
  }
  for (const [key, buffer] of expected) {
    const source = saved.get(key);
    if (source === undefined) throw new RetuneError(`${kind} optimizer state: missing tensor ${key}`);
    if (source.length !== buffer.length) {
      throw new RetuneError(`${kind} optimizer state: tensor ${key} has ${source.length} values, the parameter has ${buffer.length}`);
    }
  }
  for (const [key, buffer] of expected) buffer.set(saved.get(key) as Float32Array);
}

export function zeroGrads(params: NamedParams): void {
  for (const param of params.values()) param.grad?.fill(0);
}
