import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { resolveTemplate } from '../../src/data/template-resolve.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
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
    // Without a template in the config the base tokenizer files are copied as they are.
    assert.equal(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).chat_template, undefined);
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

test('export with a template writes it as the chat_template; applying it reproduces the training ids', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-export-'));
  try {
    const out = join(dir, 'templated');
    const result = runCli(['export', `model_name_or_path=${fixtures}/chat-model`, `export_dir=${out}`, 'template=qwen']);
    assert.equal(result.code, 0, result.stderr);
    const written = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
    assert.equal(typeof written.chat_template, 'string');
    assert.equal(written.pad_token, '<|endoftext|>', 'the rest of tokenizer_config.json is kept');

    const exported = await loadTokenizer(out);
    const base = await loadTokenizer(`${fixtures}/chat-model`);
    const template = resolveTemplate(configSchema.parse({ template: 'qwen' }), base);
    const conversation = [
      { role: 'user' as const, content: golden.questions[0] },
      { role: 'assistant' as const, content: 'Paris, of course.' },
      { role: 'user' as const, content: golden.questions[1] ?? 'And then?' },
      { role: 'assistant' as const, content: "It's \\ fine." },
    ];
    const encode = (text: string) => exported.encode(text, { addSpecialTokens: false });
    for (const system of [null, 'Answer in one word.']) {
      const messages = system === null ? conversation : [{ role: 'system', content: system }, ...conversation];
      const training = template.encodeMultiturn(base, conversation, system).flat(2);
      assert.deepEqual(encode(exported.applyChatTemplate(messages)), training, `system ${system}`);
      const prompt = template.encodePrompt(base, conversation.slice(0, 3), system);
      assert.deepEqual(encode(exported.applyChatTemplate(messages.slice(0, -1), { addGenerationPrompt: true })), prompt, `prompt, system ${system}`);
    }
    assert.ok(exported.applyChatTemplate(conversation.slice(0, 1)).startsWith('<|im_start|>system\nYou are Qwen'), 'default system');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a template with replace_eos hands its EOS on: tokenizer_config eos_token and generation_config eos_token_id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-export-'));
  try {
    // A base whose EOS is <|endoftext|> (694), like a pretrained (not chat) Qwen; the qwen template trains answers
    // ending in <|im_end|> (696).
    const base = join(dir, 'base');
    cpSync(`${fixtures}/chat-model`, base, { recursive: true });
    const editJson = (name: string, edit: (json: Record<string, unknown>) => void) => {
      const json = JSON.parse(readFileSync(join(base, name), 'utf8')) as Record<string, unknown>;
      edit(json);
      writeFileSync(join(base, name), JSON.stringify(json));
    };
    editJson('tokenizer_config.json', (json) => { json.eos_token = '<|endoftext|>'; });
    editJson('generation_config.json', (json) => { json.eos_token_id = 694; });
    const out = join(dir, 'out');
    const result = runCli(['export', `model_name_or_path=${base}`, `export_dir=${out}`, 'template=qwen']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).eos_token, '<|im_end|>');
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).eos_token_id, [694, 696]);

    const plain = join(dir, 'plain');
    assert.equal(runCli(['export', `model_name_or_path=${base}`, `export_dir=${plain}`]).code, 0);
    assert.equal(JSON.parse(readFileSync(join(plain, 'tokenizer_config.json'), 'utf8')).eos_token, '<|endoftext|>');
    assert.equal(JSON.parse(readFileSync(join(plain, 'generation_config.json'), 'utf8')).eos_token_id, 694);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
