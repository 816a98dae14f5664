import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, suggestKey } from '../../src/config/load.js';
import { usageMessage } from './helpers.js';

const lf = join('test/fixtures/config', 'lf-lora-sft.yaml');


test('a LLaMA-Factory feature switched on is refused by name, listed with bad values in key order', () => {
  const message = usageMessage(() => loadConfig(lf, ['learning_rate=fast', 'use_galore=true', 'loraplus_lr_ratio=16']));
  assert.equal(message, [
    'override learning_rate=fast: learning_rate: expected a number, got "fast"',
    'override use_galore=true: use_galore: the GaLore optimizer is not supported yet; remove use_galore to run without it',
    'override loraplus_lr_ratio=16: loraplus_lr_ratio: LoRA+ (a larger learning rate for lora_B) is not supported yet; ' +
      'remove loraplus_lr_ratio to run without it',
  ].join('\n'));
});

test('a feature left off is accepted; its sub-options are named as ineffective only away from their defaults', () => {
  const { unknownKeys, ineffectiveKeys } = loadConfig(lf, ['use_galore=false', 'mixture_of_depths=', 'galore_rank=16',
    'galore_target=mlp', 'pref_beta=0.1', 'export_device=auto', 'resources_per_worker={GPU: 1}']);
  assert.deepEqual(unknownKeys, []);
  assert.deepEqual(ineffectiveKeys, ['trust_remote_code', 'dataloader_num_workers', 'galore_target', 'export_device']);
});

test('warmup_steps below 1 is a ratio (transformers 5); a fractional count above 1 is refused', () => {
  assert.equal(loadConfig(lf, ['warmup_steps=0.1']).config.warmup_steps, 0.1);
  assert.match(usageMessage(() => loadConfig(lf, ['warmup_steps=1.5'])),
    /warmup_steps: must be a whole number of steps, or a fraction below 1/);
});

test('keys transformers renamed are unknown, with the new name suggested', () => {
  assert.deepEqual(loadConfig(lf, ['evaluation_strategy=steps']).unknownKeys, ['evaluation_strategy']);
  assert.equal(suggestKey('evaluation_strategy'), 'eval_strategy');
});
