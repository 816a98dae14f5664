import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { runCli } from './run-cli.js';

const dir = 'test/fixtures/config';

test('a bad value type exits 2 with file, line, key and value in one line, no stack', () => {
  const result = runCli(['train', `${dir}/bad-type.yaml`]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `retune: error: ${dir}/bad-type.yaml:4: learning_rate: expected a number, got "fast"\n`);
});

test('a YAML syntax error exits 2 naming the line', () => {
  const result = runCli(['train', `${dir}/bad-syntax.yaml`]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^retune: error: test\/fixtures\/config\/bad-syntax\.yaml:4:1: Flow sequence.*\n$/);
});

test('overrides in key=value and --key value forms apply after the file', () => {
  // The file's bad learning_rate is replaced; loading then stops at the next problem, do_train.
  for (const args of [['learning_rate=2e-5'], ['--learning_rate', '2e-5'], ['--learning_rate=2e-5']]) {
    const result = runCli(['train', `${dir}/bad-type.yaml`, ...args]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /do_train is not true; set do_train: true to train \(or do_eval \/ do_predict: true to evaluate or predict\)\n$/);
  }
  const bad = runCli(['train', `${dir}/lf-lora-sft.yaml`, '--cutoff_len', 'long']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'retune: error: override cutoff_len=long: cutoff_len: expected an integer, got "long"\n');
});

test('unknown keys are warned about once, with a suggestion, before anything else', () => {
  const result = runCli(['train', `${dir}/unknown-keys.yaml`]);
  assert.equal(result.code, 2);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines[0], `retune: warning: ${dir}/unknown-keys.yaml: unknown keys ignored: lerning_rate (did you mean learning_rate?), fancy_new_option`);
  assert.equal(lines.length, 2);
});

test('unsupported features exit 2 saying they are not supported yet', () => {
  const ppo = runCli(['train', `${dir}/lf-lora-sft.yaml`, 'stage=ppo']);
  assert.equal(ppo.code, 2);
  assert.equal(ppo.stderr.split('\n').filter((l) => l.startsWith('retune: error:')).join('\n'),
    'retune: error: override stage=ppo: stage: ppo is not supported yet (stages that train: pt, sft, rm, dpo, kto)');
  const quantized = runCli(['train', `${dir}/lf-lora-sft.yaml`, 'quantization_bit=4']);
  assert.equal(quantized.code, 2);
  assert.match(quantized.stderr, /quantization_bit: quantization is not supported yet/);
  const streaming = runCli(['train', `${dir}/lf-lora-sft.yaml`, 'streaming=true']);
  assert.equal(streaming.code, 2);
  assert.match(streaming.stderr, /streaming: streaming datasets is not supported yet; remove streaming: true; Retune reads /);
  assert.doesNotMatch(streaming.stderr, /unknown key/);
});

test('argument mistakes exit 2: unknown option, two config files, missing file', () => {
  const option = runCli(['train', `${dir}/lf-lora-sft.yaml`, '--fast']);
  assert.equal(option.code, 2);
  assert.equal(option.stderr, 'retune: error: train: unknown option --fast (run retune train --help)\n');
  const two = runCli(['train', 'a.yaml', 'b.yaml']);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /one config file expected, got a\.yaml and b\.yaml/);
  const missing = runCli(['train', `${dir}/nope.yaml`]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, `retune: error: ${dir}/nope.yaml: cannot read config file: no such file\n`);
});

test('RETUNE_DEBUG=1 adds the stack to the error', () => {
  const result = runCli(['train', `${dir}/bad-type.yaml`], { env: { RETUNE_DEBUG: '1' } });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^retune: error: .*\nUsageError: .*\n {4}at /);
});
