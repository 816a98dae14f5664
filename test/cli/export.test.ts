import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './run-cli.js';

const fixtures = 'test/fixtures/cli';
const golden = JSON.parse(readFileSync(join(fixtures, 'chat-golden.json'), 'utf8')) as {
  questions: string[]; max_new_tokens: number; lora: { first: string };
};

test('export merges the adapter; chatting with the exported folder gives transformers+PEFT reply', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-export-'));
  try {
    const out = join(dir, 'merged');
    const result = runCli(['export', `model_name_or_path=${fixtures}/chat-model`,
      `adapter_name_or_path=${fixtures}/chat-adapter`, `export_dir=${out}`]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `Exported ${fixtures}/chat-model with 1 adapter merged to ${out} (F32): ` +
      'config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json\n');
    const chat = runCli(['chat', `model_name_or_path=${out}`, 'template=chatml', 'do_sample=false',
      `max_new_tokens=${golden.max_new_tokens}`, '--prompt', golden.questions[0]]);
    assert.equal(chat.stdout, `${golden.lora.first}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export refuses a missing export_dir key and a non-empty export_dir, leaving it untouched', () => {
  const missing = runCli(['export', `model_name_or_path=${fixtures}/chat-model`]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, 'retune: error: <overrides>: export_dir is required to export\n');
  const dir = mkdtempSync(join(tmpdir(), 'retune-export-'));
  try {
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    const busy = runCli(['export', `model_name_or_path=${fixtures}/chat-model`, `export_dir=${dir}`]);
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, /already exists and is not empty/);
    assert.deepEqual(readdirSync(dir), ['keep.txt']);
    assert.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'mine');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
