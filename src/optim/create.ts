// Builds the optimizer a config asks for. A resume builds it from the new config, then loads the saved moments.

import type { RetuneConfig } from '../config/schema.js';
import { AdamW } from './adamw.js';
import type { NamedParams, Optimizer } from './optimizer.js';
import { SGD } from './sgd.js';

export type OptimizerKeys = Pick<RetuneConfig, 'optim' | 'adam_beta1' | 'adam_beta2' | 'adam_epsilon' | 'weight_decay'>;

function adamwHyperparameters(config: OptimizerKeys) {
  return { beta1: config.adam_beta1, beta2: config.adam_beta2, eps: config.adam_epsilon, weightDecay: config.weight_decay };
}

// adamw_torch, adamw_hf and adamw_torch_fused are one algorithm here; sgd is torch's SGD without momentum.
export function createOptimizer(config: OptimizerKeys, params: NamedParams): Optimizer {
  if (config.optim === 'sgd') return new SGD(params, config.weight_decay);
  return new AdamW(params, adamwHyperparameters(config));
}
