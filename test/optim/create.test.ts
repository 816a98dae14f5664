import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW } from '../../src/optim/adamw.js';
import { SGD } from '../../src/optim/sgd.js';
import { applyOptimizerConfig, createOptimizer, type OptimizerKeys } from '../../src/optim/create.js';
import { namedParams } from './golden.js';

const config: OptimizerKeys = { optim: 'adamw_torch', adam_beta1: 0.9, adam_beta2: 0.95, adam_epsilon: 1e-6, weight_decay: 0.1 };

test('createOptimizer builds AdamW from the adam_* keys and SGD for optim: sgd', () => {
  const params = namedParams({ 'model.layers.0.mlp.up_proj.weight': [1, 2], 'model.norm.weight': [1] });
  const adamw = createOptimizer(config, params);
  assert.ok(adamw instanceof AdamW);
  assert.deepEqual(adamw.hyperparameters, { beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 });
  assert.deepEqual(adamw.paramGroups(), { decay: ['model.layers.0.mlp.up_proj.weight'], noDecay: ['model.norm.weight'] });
  assert.ok(createOptimizer({ ...config, optim: 'sgd' }, params) instanceof SGD);
});

test('applyOptimizerConfig puts a resumed config\'s betas, eps and weight decay in force', () => {
  const optimizer = createOptimizer(config, namedParams({ 'a.weight': [1] })) as AdamW;
  applyOptimizerConfig(optimizer, { ...config, adam_beta2: 0.999, weight_decay: 0 });
  assert.deepEqual(optimizer.hyperparameters, { beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0 });
  assert.throws(() => applyOptimizerConfig(optimizer, { ...config, adam_beta1: 1.5 }), /adam_beta1 is out of range/);
});
