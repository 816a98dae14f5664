// Tokens a config adds (LLaMA-Factory's add_tokens / add_special_tokens / new_special_tokens_config): ids as
// transformers' add_tokens gives them, resize_vocab turned on only by a token that was new, the saved tokenizer
// loading back, and tokenization workers producing the same rows as the main thread.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { prepareDataset } from '../../src/data/prepare.js';
import { loadTokenizer, saveTokenizer, tokenizerFolder } from '../../src/data/tokenizer.js';
import { addConfiguredTokens } from '../../src/data/vocab.js';
import { FIXTURES, qwen3, tempDir } from './helpers.js';

const BASE = 'test/fixtures/train/model';
const args = (extra: Record<string, unknown>) => configSchema.parse(extra);

test('add_tokens then add_special_tokens get the next ids, encode as one id each and decode back', async () => {
  const tok = await loadTokenizer(BASE);
  assert.equal(tok.size, 320);
  const hash = tok.sourceHash;
  const vocab = addConfiguredTokens(tok, args({ add_tokens: 'zebra,<|im_end|>', add_special_tokens: '<a>, <b>' }));
  assert.deepEqual(vocab.tokens, ['zebra', '<|im_end|>', '<a>', '<b>']);
  assert.deepEqual(vocab.added, ['zebra', '<a>', '<b>']);
  assert.equal(vocab.resizeVocab, true);
  assert.equal(tok.size, 323);
  assert.notEqual(tok.sourceHash, hash);
  assert.deepEqual(tok.encode('<a>zebra<b>', { addSpecialTokens: false }), [321, 320, 322]);
  assert.equal(tok.decode([321, 320, 322], { skipSpecialTokens: true }), 'zebra');
});

test('tokens the tokenizer already has add nothing and leave resize_vocab as configured', async () => {
  const tok = await loadTokenizer(BASE);
  const vocab = addConfiguredTokens(tok, args({ add_special_tokens: '<|im_start|>' }));
  assert.deepEqual(vocab.added, []);
  assert.equal(vocab.resizeVocab, false);
  assert.equal(tok.size, 320);
});

test('new_special_tokens_config takes the place of add_special_tokens and keeps the descriptions', async () => {
  const dir = tempDir('vocab-desc');
  const path = join(dir, 'tokens.yaml');
  writeFileSync(path, '"<tool>": "calls a tool"\n"</tool>": "ends the call"\n');
  const tok = await loadTokenizer(BASE);
  const vocab = addConfiguredTokens(tok, args({ add_special_tokens: '<ignored>', new_special_tokens_config: path }));
  assert.deepEqual(vocab.added, ['<tool>', '</tool>']);
  assert.deepEqual([...(vocab.descriptions ?? [])], [['<tool>', 'calls a tool'], ['</tool>', 'ends the call']]);
  assert.equal(tok.tokenToId('<ignored>'), undefined);
});

test('a saved grown tokenizer loads back with the same ids, EOS and pad; tokenizerFolder prefers it', async () => {
  const tok = await loadTokenizer(BASE);
  addConfiguredTokens(tok, args({ add_tokens: 'zebra', add_special_tokens: '<a>' }));
  tok.setEosToken('<eos>');
  const dir = tempDir('vocab-save');
  saveTokenizer(tok, dir);
  const back = await loadTokenizer(dir);
  assert.equal(back.size, 323);
  assert.equal(back.eosToken, '<eos>');
  assert.equal(back.eosId, 322);
  assert.equal(back.padToken, '<|endoftext|>');
  assert.deepEqual(back.encode('<a>zebra<eos>', { addSpecialTokens: false }), [321, 320, 322]);
  assert.equal(back.decode([321, 320, 322], { skipSpecialTokens: true }), 'zebra');
  assert.equal(tokenizerFolder(BASE, [dir]), dir);
  assert.equal(tokenizerFolder(BASE, [dir, tempDir('vocab-empty')]), BASE);
  assert.equal(tokenizerFolder(BASE, []), BASE);
});

test('tokenization workers add the same tokens: rows equal the serial ones', async () => {
  const config = (workers: number) => configSchema.parse({
    dataset_dir: join(FIXTURES, 'ds'), dataset: 'alpaca', template: 'llama3', cutoff_len: 256, preprocessing_num_workers: workers,
  });
  const rowsWith = async (workers: number): Promise<number[][]> => {
    const tok = await qwen3();
    addConfiguredTokens(tok, args({ add_special_tokens: '<x>' }));
    const data = await prepareDataset(config(workers), tok, 'sft');
    assert.equal(tok.eosId, tok.tokenToId('<|eot_id|>'));
    return Array.from({ length: data.train.size }, (_, i) => [...data.train.get(i).inputIds]);
  };
  const serial = await rowsWith(1);
  assert.ok(serial.flat().includes((await qwen3()).size + 1), 'the rows use the added EOS');
  assert.deepEqual(await rowsWith(2), serial);
});
