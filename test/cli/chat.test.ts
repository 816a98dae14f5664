import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './run-cli.js';

// Replies transformers' greedy decoding gives for the fixture model (test/fixtures/cli/generate.py).
interface Replies { first: string; second: string; fresh_second: string }
const fixtures = 'test/fixtures/cli';
const golden = JSON.parse(readFileSync(join(fixtures, 'chat-golden.json'), 'utf8')) as {
  questions: [string, string]; max_new_tokens: number; base: Replies; lora: Replies;
};
const [first, second] = golden.questions;
const greedy = [`model_name_or_path=${fixtures}/chat-model`, 'template=chatml', 'do_sample=false', `max_new_tokens=${golden.max_new_tokens}`];
const adapter = `adapter_name_or_path=${fixtures}/chat-adapter`;

test('chat --prompt prints the greedy reply transformers gives, on both backends', () => {
  for (const backend of ['reference', 'native']) {
    const result = runCli(['chat', ...greedy, '--prompt', first], { env: { RETUNE_BACKEND: backend } });
    if (backend === 'native' && result.code === 1 && /native addon did not load/.test(result.stderr)) continue;
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${golden.base.first}\n`);
  }
});

test('chat reads turns from stdin with history, /clear and /exit', () => {
  const result = runCli(['chat', ...greedy], { input: `${first}\n${second}\n/clear\n\n${second}\n/exit\n${first}\n` });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `${golden.base.first}\n${golden.base.second}\n${golden.base.fresh_second}\n`);
});

test('chat merges a PEFT LoRA adapter from adapter_name_or_path', () => {
  const single = runCli(['chat', ...greedy, adapter, '--prompt', first]);
  assert.equal(single.code, 0);
  assert.equal(single.stdout, `${golden.lora.first}\n`);
  const turns = runCli(['chat', ...greedy, adapter], { input: `${first}\n${second}\n` });
  assert.equal(turns.stdout, `${golden.lora.first}\n${golden.lora.second}\n`);
});

test('the threads key sizes the native pool, winning over RETUNE_THREADS', (t) => {
  const env = { RETUNE_BACKEND: 'native', RETUNE_THREADS: 'zero' };
  const fromEnv = runCli(['chat', ...greedy, '--prompt', first], { env });
  if (/native addon did not load/.test(fromEnv.stderr)) {
    t.skip('native addon not built');
    return;
  }
  assert.equal(fromEnv.code, 2);
  assert.match(fromEnv.stderr, /RETUNE_THREADS=zero: expected a whole number of threads/);
  const fromConfig = runCli(['chat', ...greedy, 'threads=1', '--prompt', first], { env });
  assert.equal(fromConfig.code, 0);
  assert.equal(fromConfig.stdout, `${golden.base.first}\n`);
});

test('sampling with a seed repeats itself', () => {
  const args = ['chat', ...greedy, 'do_sample=true', 'temperature=1.5', 'top_p=0.9', 'seed=7', '--prompt', first];
  const a = runCli(args);
  assert.equal(a.code, 0);
  assert.equal(runCli(args).stdout, a.stdout);
});

test('chat errors: missing model key and folder exit 2, a corrupt weight file exits 1 naming it', () => {
  const noModel = runCli(['chat', '--prompt', 'hi']);
  assert.equal(noModel.code, 2);
  assert.equal(noModel.stderr, 'retune: error: <overrides>: model_name_or_path is required to chat\n');
  const missing = runCli(['chat', `model_name_or_path=${fixtures}/no-such-model`, '--prompt', 'hi']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no-such-model/);
  const dir = mkdtempSync(join(tmpdir(), 'retune-chat-'));
  try {
    copyFileSync(join(fixtures, 'chat-model', 'config.json'), join(dir, 'config.json'));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]));
    const corrupt = runCli(['chat', `model_name_or_path=${dir}`, '--prompt', 'hi']);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stderr, /^retune: error: .*model\.safetensors: header length 200 runs past the end of the file/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chat --prompt with nothing to say exits 2 before loading the model', () => {
  for (const prompt of ['', '   ']) {
    const result = runCli(['chat', ...greedy, '--prompt', prompt]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'retune: error: --prompt is empty; give the message to send, e.g. --prompt "Hello"\n');
  }
});

test('a weight stored with an integer dtype is refused, naming the file and tensor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-chat-'));
  try {
    for (const name of readdirSync(join(fixtures, 'chat-model'))) copyFileSync(join(fixtures, 'chat-model', name), join(dir, name));
    // I32 has F32's item size, so only the header changes and the file stays well-formed.
    const path = join(dir, 'model.safetensors');
    const bytes = readFileSync(path);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, headerEnd).toString('utf8')) as Record<string, { dtype: string }>;
    const tensor = Object.keys(header).find((k) => k !== '__metadata__' && header[k].dtype === 'F32')!;
    header[tensor].dtype = 'I32';
    const json = Buffer.from(JSON.stringify(header).padEnd(headerEnd - 8, ' '));
    assert.equal(json.length, headerEnd - 8);
    writeFileSync(path, Buffer.concat([bytes.subarray(0, 8), json, bytes.subarray(headerEnd)]));
    const result = runCli(['chat', `model_name_or_path=${dir}`, '--prompt', 'hi']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `retune: error: ${path}: tensor "${tensor}" is stored as I32, an integer type; a weight ` +
      'must be F32, BF16 or F16\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chat --help lists the generation keys', () => {
  const result = runCli(['chat', '--help']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^usage: retune chat cfg\.yaml/);
  assert.match(result.stdout, /^generating:$/m);
  assert.match(result.stdout, /^  temperature \(number, default 0\.95\)$/m);
  assert.doesNotMatch(result.stdout, /^training:$/m);
});
