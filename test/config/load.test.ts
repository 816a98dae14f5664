import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkTrainConfig, loadConfig, saveResolvedConfig, suggestKey } from '../../src/config/load.js';
import { usageMessage } from './helpers.js';

const dir = 'test/fixtures/config';
const lf = join(dir, 'lf-lora-sft.yaml');


test('a LLaMA-Factory LoRA SFT config loads with its values and LLaMA-Factory defaults', () => {
  const { config, unknownKeys, source } = loadConfig(lf, []);
  assert.equal(source, lf);
  assert.deepEqual(unknownKeys, []);
  assert.equal(config.model_name_or_path, 'models/llama3-8b-instruct');
  assert.equal(config.dataset, 'identity,alpaca_en_demo');
  assert.equal(config.learning_rate, 1e-4);
  assert.equal(config.gradient_accumulation_steps, 8);
  assert.equal(config.lr_scheduler_type, 'cosine');
  assert.equal(config.bf16, true);
  assert.equal(config.resume_from_checkpoint, null);
  // Defaults and the keys resolved from other keys.
  assert.equal(config.lora_alpha, 16);
  assert.equal(config.lora_dropout, 0);
  assert.equal(config.packing, null);
  assert.equal(config.eval_steps, 10);
  assert.equal(config.dataset_dir, 'data');
  assert.equal(config.adam_beta2, 0.999);
  assert.equal(config.max_steps, -1);
  assert.equal(config.resume_policy, 'config');
});

test('JSON configs load to the same values as YAML', () => {
  assert.deepEqual(loadConfig(join(dir, 'lf-lora-sft.json'), []).config, loadConfig(lf, []).config);
});

test('ineffective keys are named only when they ask for something', () => {
  // report_to: none and ddp_timeout at its default ask for nothing; bf16 has an effect (frozen weights in bf16).
  const { ineffectiveKeys } = loadConfig(lf, []);
  assert.deepEqual(ineffectiveKeys, ['trust_remote_code', 'dataloader_num_workers']);
});

test('unknown keys are collected in file order, never dropped silently, with suggestions', () => {
  const { unknownKeys, config } = loadConfig(join(dir, 'unknown-keys.yaml'), ['another_unknown=1']);
  assert.deepEqual(unknownKeys, ['lerning_rate', 'fancy_new_option', 'another_unknown']);
  assert.equal(config.learning_rate, 5e-5);
  assert.equal(suggestKey('lerning_rate'), 'learning_rate');
  assert.equal(suggestKey('fancy_new_option'), null);
});

test('a value of the wrong type names file, line, key and value', () => {
  const message = usageMessage(() => loadConfig(join(dir, 'bad-type.yaml'), []));
  assert.equal(message, `${dir}/bad-type.yaml:4: learning_rate: expected a number, got "fast"`);
});

test('YAML syntax errors, duplicate keys and a non-mapping document name the file and line', () => {
  assert.match(usageMessage(() => loadConfig(join(dir, 'bad-syntax.yaml'), [])), /bad-syntax\.yaml:4:1: Flow sequence/);
  assert.match(usageMessage(() => loadConfig(join(dir, 'duplicate-key.yaml'), [])), /duplicate-key\.yaml:3:1: Map keys must be unique/);
  assert.match(usageMessage(() => loadConfig(join(dir, 'not-a-mapping.yaml'), [])), /not-a-mapping\.yaml: expected a mapping/);
  assert.match(usageMessage(() => loadConfig(join(dir, 'missing.yaml'), [])), /missing\.yaml: cannot read config file: no such file/);
});

test('overrides are YAML scalars, win over the file, and name themselves in errors', () => {
  const { config } = loadConfig(lf, ['learning_rate=3e-4', 'dataset=[a, b]', 'packing=true', 'max_samples=', 'lora_rank=4']);
  assert.equal(config.learning_rate, 3e-4);
  assert.equal(config.dataset, 'a,b');
  assert.equal(config.packing, true);
  assert.equal(config.max_samples, null);
  assert.equal(config.lora_alpha, 8);
  const text = loadConfig(null, ['default_system=Note: be brief', 'template=a: b: c', 'max_samples=null']).config;
  assert.equal(text.default_system, 'Note: be brief');
  assert.equal(text.template, 'a: b: c');
  assert.equal(text.max_samples, null);
  assert.match(usageMessage(() => loadConfig(null, ['dataset=[a, b'])), /^override dataset=\[a, b: cannot read the value: /);
  const fixed = loadConfig(join(dir, 'bad-type.yaml'), ['learning_rate=2.0e-5']);
  assert.equal(fixed.config.learning_rate, 2e-5);
  assert.equal(usageMessage(() => loadConfig(lf, ['cutoff_len=0'])), 'override cutoff_len=0: cutoff_len: must be > 0, got 0');
  assert.equal(usageMessage(() => loadConfig(null, ['lora_rank=1.5'])), 'override lora_rank=1.5: lora_rank: expected an integer, got 1.5');
  assert.match(usageMessage(() => loadConfig(null, ['optim=adafactor'])), /optim: expected one of adamw_torch, adamw_hf, adamw_torch_fused, sgd, got "adafactor"/);
  assert.equal(usageMessage(() => loadConfig(null, ['learning_rate'])), 'override "learning_rate": expected key=value');
});

test('several bad values are listed in the order the keys were written', () => {
  const message = usageMessage(() => loadConfig(join(dir, 'bad-type.yaml'), ['lora_rank=0', 'cutoff_len=x', 'top_p=2', 'seed=-1']));
  assert.equal(message, [
    `${dir}/bad-type.yaml:4: learning_rate: expected a number, got "fast"`,
    'override lora_rank=0: lora_rank: must be > 0, got 0',
    'override cutoff_len=x: cutoff_len: expected an integer, got "x"',
    '(and 2 more)',
  ].join('\n'));
});

test('unsupported features are refused with "not supported yet", naming where they were set', () => {
  assert.equal(usageMessage(() => loadConfig(lf, ['stage=ppo'])), 'override stage=ppo: stage: ppo is not supported yet (stages that train: pt, sft, rm, dpo, kto)');
  assert.match(usageMessage(() => loadConfig(lf, ['quantization_bit=4'])), /^override quantization_bit=4: quantization_bit: quantization is not supported yet/);
  assert.match(usageMessage(() => loadConfig(lf, ['pissa_init=true'])), /pissa_init: PiSSA initialisation is not supported yet; remove pissa_init to run without it/);
});

test('cross-field rules of LLaMA-Factory and of resume point at the key', () => {
  const cases: [string[], RegExp][] = [
    [['val_size=0.1', 'eval_dataset=x'], /override val_size=0\.1: val_size: cannot be used together with eval_dataset/],
    [['interleave_probs=0.5,0.5'], /interleave_probs: needs mix_strategy interleave_under or interleave_over/],
    [['mix_strategy=interleave_under', 'interleave_probs=1'], /interleave_probs: has 1 entries for 2 datasets/],
    [['mask_history=true', 'train_on_prompt=true'], /mask_history: cannot be used together with train_on_prompt/],
    [['finetuning_type=full', 'use_dora=true'], /use_dora: only applies to finetuning_type lora/],
    [['eval_strategy=steps'], /eval_strategy: needs an eval split/],
    [['resume_lr_mode=rewarm'], /resume_warmup_steps: must be > 0 with resume_lr_mode rewarm/],
    [['val_size=2.5'], /val_size: must be a fraction below 1 or a whole count, got 2\.5/],
  ];
  for (const [overrides, expected] of cases) assert.match(usageMessage(() => loadConfig(lf, overrides)), expected);
});

test('warmup_steps over warmup_ratio is resolved as HF does and said once', () => {
  const { config, notices } = loadConfig(lf, ['warmup_steps=20']);
  assert.equal(config.warmup_steps, 20);
  assert.deepEqual(notices, ['warmup_steps (20) overrides warmup_ratio (0.1), as in HF']);
});

test('packing keeps whether it was set: the data layer packs set packing into cutoff_len - 1 tokens, as LLaMA-Factory', () => {
  assert.equal(loadConfig(lf, ['stage=pt']).config.packing, null);
  assert.equal(loadConfig(lf, ['stage=pt', 'packing=false']).config.packing, false);
  assert.equal(loadConfig(lf, ['packing=true']).config.packing, true);
});

test('training needs do_train, a model, a dataset and an output_dir', () => {
  assert.doesNotThrow(() => checkTrainConfig(loadConfig(lf, [])));
  assert.match(usageMessage(() => checkTrainConfig(loadConfig(lf, ['do_train=false']))), /do_train is not true/);
  assert.match(usageMessage(() => checkTrainConfig(loadConfig(lf, ['output_dir=']))), /output_dir is required to train/);
  assert.match(usageMessage(() => checkTrainConfig(loadConfig(null, ['do_train=true']))), /^<overrides>: model_name_or_path is required/);
});

test('training_args.yaml loads back to the same resolved config and replaces files atomically', () => {
  const out = mkdtempSync(join(tmpdir(), 'retune-config-'));
  try {
    const { config } = loadConfig(lf, ['lora_target=q_proj,v_proj', 'lr_scheduler_kwargs={num_cycles: 2}']);
    const path = join(out, 'training_args.yaml');
    saveResolvedConfig(config, path);
    saveResolvedConfig(config, path);
    const again = loadConfig(path, []);
    assert.deepEqual(again.config, config);
    assert.deepEqual(again.unknownKeys, []);
    assert.deepEqual(readdirSync(out), ['training_args.yaml']);
    assert.ok(existsSync(path));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
