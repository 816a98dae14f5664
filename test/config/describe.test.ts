import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { keyInfo } from '../../src/config/describe.js';

test('keyInfo gives each kind of key its type in words and its default', () => {
  assert.deepEqual(keyInfo('lora_rank'), { type: 'int', fallback: 8, description: 'LoRA rank r.' });
  assert.equal(keyInfo('learning_rate').type, 'number');
  assert.equal(keyInfo('learning_rate').fallback, 5e-5);
  assert.equal(keyInfo('do_train').type, 'boolean');
  assert.equal(keyInfo('optim').type, 'adamw_torch|adamw_hf|adamw_torch_fused|sgd');
  assert.deepEqual(keyInfo('dataset'), {
    type: 'comma list', fallback: null,
    description: 'Comma list of dataset names from dataset_dir/dataset_info.json used for training.',
  });
  assert.equal(keyInfo('lora_target').fallback, 'all');
  assert.equal(keyInfo('report_to').type, 'string|list');
  assert.deepEqual(keyInfo('lr_scheduler_kwargs'), { type: 'mapping', fallback: {}, description: keyInfo('lr_scheduler_kwargs').description });
  assert.equal(keyInfo('lora_alpha').fallback, null);
  assert.equal(keyInfo('max_samples').type, 'int');
});
