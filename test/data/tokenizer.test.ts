import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { golden, llama2, qwen3, tempDir } from './helpers.js';

test('qwen3 tokenizer matches the Python tokenizer on English, Chinese, whitespace and code', async () => {
  const tok = await qwen3();
  for (const { text, ids } of golden().text.qwen3) assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), ids, text);
});

test('llama2 tokenizer matches Python with and without special tokens', async () => {
  const tok = await llama2();
  for (const { text, ids, idsWithSpecial } of golden().text.llama2) {
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), ids, text);
    assert.deepEqual(tok.encode(text), idsWithSpecial, text);
  }
});

test('special tokens come from tokenizer_config.json', async () => {
  const q = await qwen3();
  assert.equal(q.eosToken, '<|im_end|>');
  assert.equal(q.eosId, 151645);
  assert.equal(q.padId, 151643);
  assert.equal(q.bosId, null);
  assert.equal(q.addBosToken, false);
  assert.ok(q.chatTemplate?.includes('<|im_start|>'));
  const l = await llama2();
  assert.deepEqual([l.bosId, l.eosId, l.padId, l.addBosToken], [1, 2, null, true]);
  assert.equal(l.chatTemplate, null);
});

test('decode round-trips Chinese text and can skip special tokens', async () => {
  const tok = await qwen3();
  const text = '你好，世界！ mixed text';
  assert.equal(tok.decode(tok.encode(text)), text);
  const ids = [...tok.encode('hi'), tok.eosId as number];
  assert.equal(tok.decode(ids), 'hi<|im_end|>');
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'hi');
});

test('the chat template renders through jinja like transformers', async () => {
  const tok = await qwen3();
  const g = golden().qwen3.oneturn;
  assert.equal(tok.applyChatTemplate(g.messages), g.full.text);
  assert.equal(tok.applyChatTemplate(g.messages.slice(0, 2), { addGenerationPrompt: true }), g.prompt.text);
});

test('missing or broken tokenizer files are usage errors naming the file', async () => {
  const dir = tempDir('tok');
  await assert.rejects(loadTokenizer(dir), (e: Error) => e instanceof UsageError && e.message.includes(join(dir, 'tokenizer.json')));
  writeFileSync(join(dir, 'tokenizer.json'), '{ not json');
  await assert.rejects(loadTokenizer(dir), (e: Error) => e instanceof UsageError && /invalid JSON/.test(e.message));
  const other = join(dir, 'bad-eos');
  mkdirSync(other);
  const model = { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' };
  writeFileSync(join(other, 'tokenizer.json'), JSON.stringify({ model, added_tokens: [] }));
  await assert.rejects(loadTokenizer(other), (e: Error) => e instanceof UsageError && /unsupported or incomplete tokenizer/.test(e.message));
  writeFileSync(join(other, 'tokenizer.json'), JSON.stringify({ model, normalizer: null, pre_tokenizer: null, post_processor: null, decoder: { type: 'Fuse' }, added_tokens: [] }));
  writeFileSync(join(other, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>' }));
  await assert.rejects(loadTokenizer(other), (e: Error) => e instanceof UsageError && /eos_token "<\/s>" is not in tokenizer.json/.test(e.message));
});
