import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { commands } from '../../src/cli/commands.js';
import { configGroups } from '../../src/config/schema.js';
import { runCli } from './run-cli.js';

test('retune with no arguments, --help and help print the command overview', () => {
  const plain = runCli([]);
  assert.equal(plain.code, 0);
  assert.equal(plain.stderr, '');
  for (const [name, command] of Object.entries(commands)) {
    const row = plain.stdout.split('\n').find((line) => line.startsWith(`  ${name} `));
    assert.equal(row?.trim().replace(/\s+/, ' '), `${name} ${command.summary}`);
  }
  assert.match(plain.stdout, /^  RETUNE_BACKEND=reference\|native /m);
  assert.match(plain.stdout, /^  RETUNE_DEBUG=1 /m);
  assert.equal(runCli(['--help']).stdout, plain.stdout);
  assert.equal(runCli(['help']).stdout, plain.stdout);
});

test('retune train --help lists every training key with its type, default and description', () => {
  const result = runCli(['train', '--help']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^usage: retune train cfg\.yaml \[key=value \.\.\.\] \[--dry-run\]/);
  for (const group of ['model', 'data', 'finetuning', 'training', 'resume'] as const) {
    assert.match(result.stdout, new RegExp(`^${group}:$`, 'm'));
    for (const key of Object.keys(configGroups[group].shape)) assert.match(result.stdout, new RegExp(`^  ${key} \\(`, 'm'), key);
  }
  assert.match(result.stdout, /^  learning_rate \(number, default 0\.00005\)\n      Peak learning rate\.$/m);
  assert.match(result.stdout, /^  lr_scheduler_type \(linear\|cosine\|.*, default linear\)$/m);
  assert.match(result.stdout, /^  lora_rank \(int, default 8\)$/m);
  assert.match(result.stdout, /^  dataset \(comma list, default unset\)$/m);
  assert.doesNotMatch(result.stdout, /^generating:$/m);
  assert.equal(runCli(['help', 'train']).stdout, result.stdout);
});

test('unknown commands and help topics exit 2', () => {
  const unknown = runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'retune: error: unknown command "frobnicate" (run retune help)\n');
  assert.equal(runCli(['help', 'frobnicate']).code, 2);
});
