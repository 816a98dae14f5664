// How a run treats its vocabulary (src/train/vocab.ts): LLaMA-Factory's notices, the refusal of a token id past the
// embedding without resize_vocab, and the LoRA modules_to_save rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import { TokenizedDataset } from '../../src/data/dataset-store.js';
import type { PreparedData } from '../../src/data/prepare.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import type { AddedVocab } from '../../src/data/vocab.js';
import { UsageError } from '../../src/util/errors.js';
import { checkVocabFits, loraTargets, vocabNotices } from '../../src/train/vocab.js';

const BASE = 'test/fixtures/train/model';
const config = (extra: Record<string, unknown> = {}) => configSchema.parse({ finetuning_type: 'lora', ...extra });
const vocab = (extra: Partial<AddedVocab> = {}): AddedVocab => ({ tokens: [], added: [], descriptions: null, resizeVocab: false, ...extra });

function dataWith(ids: number[]): PreparedData {
  const row = { inputIds: Int32Array.from(ids), labels: Int32Array.from(ids) };
  return { train: new TokenizedDataset([row]), eval: null } as unknown as PreparedData;
}

test('notices: resize_vocab turned on by added tokens; desc_init without descriptions falls back', () => {
  assert.deepEqual(vocabNotices(config(), vocab({ added: ['<a>'], resizeVocab: true })),
    ['added <a> to the tokenizer, so resize_vocab is on (as LLaMA-Factory turns it on)']);
  assert.deepEqual(vocabNotices(config({ resize_vocab: true }), vocab({ added: ['<a>'], resizeVocab: true })), []);
  assert.deepEqual(vocabNotices(config({ init_special_tokens: 'desc_init' }), vocab()),
    ['init_special_tokens desc_init needs new_special_tokens_config; using noise_init']);
});

test('a token id past the embedding refuses without resize_vocab, naming the token; ids inside it pass', async () => {
  const tok = await loadTokenizer(BASE);
  tok.setEosToken('<|eot_id|>');
  checkVocabFits(vocab(), tok, dataWith([5, 319]), 320);
  checkVocabFits(vocab({ resizeVocab: true }), tok, dataWith([5, 320]), 320);
  checkVocabFits(vocab(), tok, dataWith([5, 320]), 384); // a padded embedding already has the row
  assert.throws(() => checkVocabFits(vocab(), tok, dataWith([5, 320]), 320),
    (e: Error) => e instanceof UsageError && /resize_vocab: the tokenizer gained "<\|eot_id\|>" \(id 320/.test(e.message));
});

test('LoRA with resize_vocab trains embed_tokens and lm_head in full unless additional_target is set', () => {
  const grown = vocab({ resizeVocab: true });
  assert.equal(loraTargets(config(), grown).additional_target, 'embed_tokens,lm_head');
  assert.equal(loraTargets(config({ additional_target: 'norm' }), grown).additional_target, 'norm');
  assert.equal(loraTargets(config(), vocab()).additional_target, null);
  assert.equal(loraTargets(config({ finetuning_type: 'full' }), grown).additional_target, null);
});
