// Finds the model's Linear layers under their Hugging Face module names (`model.layers.0.self_attn.q_proj`), which
// is what LoRA targets, PEFT keys and LLaMA-Factory's module lists speak. A Linear is named through its weight: the
// model's namedParameters() already maps HF names to tensors, so walking the module tree and looking each weight up
// keeps this file independent of how the model names its fields.
import { RetuneError } from '../../util/errors.js';
import { Embedding } from '../../nn/embedding.js';
import { Linear } from '../../nn/linear.js';
import { Tensor } from '../../tensor/tensor.js';
import type { CausalLM } from '../causal-lm.js';

// Every Linear of the model keyed by HF module name, in namedParameters() order. A tied lm_head is left out: its
// weight is the embedding's, which has no Linear name of its own.
export function namedLinears(model: CausalLM): Map<string, Linear> {
  const byWeight = new Map<Tensor, Linear>();
  const embeddings = new Set<Tensor>();
  const seen = new Set<object>();
  const stack: object[] = [model];
  while (stack.length > 0) {
    const obj = stack.pop() as object;
    if (seen.has(obj)) continue;
    seen.add(obj);
    if (obj instanceof Linear && !byWeight.has(obj.weight)) byWeight.set(obj.weight, obj);
    if (obj instanceof Embedding) embeddings.add(obj.weight);
    for (const value of Object.values(obj)) {
      if (value === null || typeof value !== 'object' || value instanceof Tensor || ArrayBuffer.isView(value)) continue;
      if (value instanceof Map) stack.push(...value.values());
      else stack.push(value);
    }
  }
  const out = new Map<string, Linear>();
  for (const [name, tensor] of model.namedParameters()) {
    const linear = byWeight.get(tensor);
    if (linear !== undefined && !embeddings.has(tensor) && name.endsWith('.weight')) out.set(name.slice(0, -'.weight'.length), linear);
  }
  return out;
}

// The module name a parameter belongs to: `model.norm.weight` -> `model.norm`.
export function moduleOf(paramName: string): string {
  const dot = paramName.lastIndexOf('.');
  return dot < 0 ? '' : paramName.slice(0, dot);
}

// Turns a frozen bf16 weight into a trainable float32 one in place; trainable parameters always stay fp32.
export function makeTrainable(name: string, t: Tensor): void {
  if (t.bf16 !== null) {
    const values = t.values();
    t.bf16 = null;
    t.data = values;
  }
  if (t.released) throw new RetuneError(`parameter ${name}: its data was released`);
  t.requiresGrad = true;
}
