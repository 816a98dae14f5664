import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { configKeys, isConfigKey, isKnownKey, keyInfo, renamedKey, resumeClassOf } from '../../src/config/keys.js';
import { configGroups, configObject, configSchema, llamaFactoryGroup } from '../../src/config/schema.js';

const resumeClasses = [
  'structural', 'schedule', 'optimizer', 'batch', 'data', 'seed', 'numerics', 'objective', 'bookkeeping', 'no-effect',
];
const lfStatuses = ['accepted', 'ignored', 'refused', 'retune'];
const kinds = ['boolean', 'integer', 'number', 'string', 'enum', 'list', 'record'];

test('every key is declared once, in one group, with every fact', () => {
  const declared = [...Object.values(configGroups), llamaFactoryGroup].flatMap((group) => Object.keys(group.shape));
  const keys = configKeys();
  assert.equal(new Set(declared).size, declared.length, 'a key is declared in two groups');
  assert.deepEqual(keys.map((k) => k.name), declared);
  for (const info of keys) {
    const where = info.name;
    assert.ok(info.group === 'llamafactory' || Object.hasOwn(configGroups, info.group), where);
    assert.ok(kinds.includes(info.kind), where);
    assert.ok(info.description.length > 10 && !info.description.includes('\n') && info.description.endsWith('.'), where);
    assert.ok(resumeClasses.includes(info.resumeClass), where);
    assert.ok(lfStatuses.includes(info.lfStatus), where);
    assert.equal(typeof info.nullable, 'boolean', where);
    assert.equal(info.kind === 'enum', Array.isArray(info.values) && info.values.length > 1, where);
    assert.ok(info.default !== undefined && (info.default !== null || info.nullable), where);
    assert.equal(info.lfStatus === 'refused', typeof info.instead === 'string', where);
    if (info.kind === 'enum') assert.ok(info.default === null || info.values?.includes(info.default as string), where);
    if (info.min !== undefined && typeof info.default === 'number') assert.ok(info.default >= info.min, where);
    if (info.max !== undefined && typeof info.default === 'number') assert.ok(info.default <= info.max, where);
    // Keys outside RetuneConfig are LLaMA-Factory's, and train nothing here.
    assert.equal(info.group === 'llamafactory', !isConfigKey(info.name), where);
    if (info.group === 'llamafactory') {
      assert.ok(info.lfStatus === 'ignored' || info.lfStatus === 'refused', where);
      assert.equal(info.resumeClass, 'no-effect', where);
    }
  }
  assert.deepEqual(keys.filter((k) => k.group !== 'llamafactory').map((k) => k.name).sort(),
    Object.keys(configObject.shape).sort());
});

test('configKeys() is plain JSON, and its defaults are what an empty config resolves to', () => {
  const keys = configKeys();
  assert.deepEqual(JSON.parse(JSON.stringify(keys)), keys);
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const derived = new Set(['lora_alpha', 'eval_steps']); // resolved from other keys
  for (const info of keys.filter((k) => isConfigKey(k.name) && !derived.has(k.name))) {
    assert.deepEqual(defaults[info.name], info.default, info.name);
  }
  keys[0].description = 'changed';
  assert.notEqual(configKeys()[0].description, 'changed');
});

test('each kind of key reads as its type, range and statuses', () => {
  assert.deepEqual(keyInfo('lora_rank'), {
    name: 'lora_rank', group: 'finetuning', kind: 'integer', default: 8, min: 1, nullable: false,
    description: 'LoRA rank r.', resumeClass: 'structural', lfStatus: 'accepted',
  });
  assert.deepEqual(keyInfo('adam_beta1'), {
    name: 'adam_beta1', group: 'training', kind: 'number', default: 0.9, min: 0, max: 1, exclusiveMax: true,
    nullable: false, description: 'AdamW beta1.', resumeClass: 'optimizer', lfStatus: 'accepted',
  });
  assert.equal(keyInfo('learning_rate')?.exclusiveMin, true);
  assert.deepEqual(keyInfo('optim')?.values, ['adamw_torch', 'adamw_hf', 'adamw_torch_fused', 'sgd']);
  assert.equal(keyInfo('dataset')?.kind, 'list');
  assert.equal(keyInfo('dataset')?.nullable, true);
  assert.equal(keyInfo('lr_scheduler_kwargs')?.kind, 'record');
  assert.equal(keyInfo('max_steps')?.min, -1);
  assert.equal(keyInfo('threads')?.lfStatus, 'retune');
  assert.equal(keyInfo('fp16')?.lfStatus, 'ignored');
  assert.equal(keyInfo('use_galore')?.instead, 'remove use_galore to run without it');
  assert.equal(keyInfo('rope_scaling')?.instead, 'set rope_scaling in the model\'s config.json');
  assert.equal(keyInfo('galore_rank')?.group, 'llamafactory');
  assert.equal(keyInfo('no_such_key'), undefined);
  assert.ok(isKnownKey('galore_rank') && !isConfigKey('galore_rank') && !isKnownKey('no_such_key'));
  assert.equal(renamedKey('evaluation_strategy'), 'eval_strategy');
  assert.equal(renamedKey('eval_strategy'), null);
});

test('resume classes: seed keeps its own class, chat and export keys train nothing', () => {
  assert.equal(resumeClassOf('seed'), 'seed');
  assert.equal(resumeClassOf('lora_dropout'), 'numerics');
  assert.equal(resumeClassOf('temperature'), 'no-effect');
  assert.equal(resumeClassOf('default_system'), 'data');
  assert.equal(resumeClassOf('per_device_train_batch_size'), 'batch');
  assert.equal(resumeClassOf('nope'), undefined);
});
