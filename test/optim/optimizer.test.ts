import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decaysWeight, splitDecay } from '../../src/optim/optimizer.js';
import { golden } from './golden.js';

test('weight decay groups follow HF Trainer.get_decay_parameter_names on Llama, Qwen3 and PEFT names', () => {
  for (const [name, decays] of Object.entries(golden.decay_rule)) assert.equal(decaysWeight(name), decays, name);
});

test('splitDecay keeps the given order inside each group', () => {
  const names = ['model.norm.weight', 'lm_head.weight', 'model.layers.0.self_attn.q_proj.bias', 'model.embed_tokens.weight'];
  assert.deepEqual(splitDecay(names), {
    decay: ['lm_head.weight', 'model.embed_tokens.weight'],
    noDecay: ['model.norm.weight', 'model.layers.0.self_attn.q_proj.bias'],
  });
});
