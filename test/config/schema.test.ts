import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';

test('an empty config gets LLaMA-Factory and HF defaults', () => {
  const config = configSchema.parse({});
  const expected: Record<string, unknown> = {
    stage: 'sft', finetuning_type: 'lora', lora_rank: 8, lora_alpha: 16, lora_dropout: 0, lora_target: 'all',
    freeze_trainable_layers: 2, freeze_trainable_modules: 'all', dataset_dir: 'data', cutoff_len: 2048, val_size: 0,
    mix_strategy: 'concat', packing: null, preprocessing_batch_size: 1000, logging_steps: 10, save_steps: 500, save_strategy: 'steps',
    per_device_train_batch_size: 1, gradient_accumulation_steps: 1, learning_rate: 5e-5, num_train_epochs: 3,
    max_steps: -1, lr_scheduler_type: 'linear', lr_scheduler_kwargs: {}, warmup_ratio: 0, warmup_steps: 0,
    weight_decay: 0, adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, max_grad_norm: 1, optim: 'adamw_torch',
    seed: 42, eval_strategy: 'no', max_bad_steps: 3, do_sample: true, temperature: 0.95, top_p: 0.7, top_k: 50,
    max_new_tokens: 1024, repetition_penalty: 1, export_size: 5, resume_policy: 'config', resume_lr_mode: 'absolute',
    resume_warmup_steps: 0, reset_optimizer_state: false, threads: 0,
  };
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(config[key as keyof typeof config], value, key);
  }
});

test('comma lists accept YAML lists and trim entries', () => {
  const config = configSchema.parse({ lora_target: ['q_proj', ' v_proj '], dataset: 'a, b,' });
  assert.equal(config.lora_target, 'q_proj,v_proj');
  assert.equal(config.dataset, 'a,b');
});
