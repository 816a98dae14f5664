// Random weights for `train_from_scratch` and benchmarks, as transformers' _init_weights does for the Llama family:
// Linear and Embedding weights ~ N(0, initializer_range), biases 0, RMSNorm weights 1.
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { assembleModel } from './assemble.js';
import type { CausalLM } from './causal-lm.js';
import type { ModelConfig } from './config.js';

export function initModel(config: ModelConfig, seed: number): CausalLM {
  const std = typeof config.raw.initializer_range === 'number' ? config.raw.initializer_range : 0.02;
  const rng = new Rng(seed, 0x1417);
  return assembleModel(config, (name, shape) => {
    const t = Tensor.zeros(shape);
    if (name.endsWith('norm.weight')) t.data.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < t.size; i++) t.data[i] = rng.nextNormal() * std;
    return t;
  });
}
