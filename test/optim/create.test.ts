import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW } from '../../src/optim/adamw.js';
import { SGD } from '../../src/optim/sgd.js';
import { createOptimizer, type OptimizerKeys } from '../../src/optim/create.js';
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
