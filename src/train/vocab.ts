// A run's vocabulary, LLaMA-Factory's way (hiyouga/LLaMA-Factory ff6d4d12): the config's tokens are added to the
// tokenizer before the template adds its missing EOS and stop words; with resize_vocab (on by itself once a
// configured token was added) the model's embedding and LM head grow to the tokenizer (src/model/vocab.ts), and a
// LoRA run trains both in full as PEFT modules_to_save (adapter.py: additional_target = the embedding modules).
// Without resize_vocab, a token id past the embedding's rows is what makes LLaMA-Factory's run fail (an index error
// in the embedding lookup), so exactly that is refused, before anything is written.
import { UsageError } from '../util/errors.js';
import type { RetuneConfig } from '../config/schema.js';
import type { AddedVocab, PreparedData, TokenizedDataset, Tokenizer } from '../data/index.js';
import type { CausalLM } from '../model/index.js';
import { growVocab } from '../model/vocab.js';

// What LLaMA-Factory warns about the configured tokens: resize_vocab turned on by new tokens, and a desc_init
// without descriptions falling back to noise_init.
export function vocabNotices(config: Pick<RetuneConfig, 'resize_vocab' | 'init_special_tokens'>, vocab: AddedVocab): string[] {
  const notes: string[] = [];
  if (!config.resize_vocab && vocab.added.length > 0) {
    notes.push(`added ${vocab.added.join(', ')} to the tokenizer, so resize_vocab is on (as LLaMA-Factory turns it on)`);
  }
  if (config.init_special_tokens !== 'noise_init' && vocab.descriptions === null) {
    notes.push(`init_special_tokens ${config.init_special_tokens} needs new_special_tokens_config; using noise_init`);
  }
  return notes;
}

// Refuses a run whose rows hold a token id the model has no embedding row for (resize_vocab off).
export function checkVocabFits(vocab: AddedVocab, tokenizer: Tokenizer, data: PreparedData, rows: number): void {
  if (vocab.resizeVocab) return;
  const top = Math.max(maxId(data.train), data.eval === null ? -1 : maxId(data.eval));
  if (top < rows) return;
  const token = tokenizer.added.find((t) => t.id === top)?.content ?? `id ${top}`;
  throw new UsageError(`resize_vocab: the tokenizer gained ${JSON.stringify(token)} (id ${top}, the template adds its ` +
    `missing EOS and stop words) but the model's embedding has ${rows} rows; set resize_vocab: true to grow it ` +
    '(LLaMA-Factory fails on this token without it)');
}

function maxId(dataset: TokenizedDataset): number {
  let top = -1;
  for (let i = 0; i < dataset.size; i++) {
    const row = dataset.get(i);
    for (const ids of [row.inputIds, row.rejectedIds, row.klIds]) if (ids !== undefined) for (const id of ids) if (id > top) top = id;
  }
  return top;
}

// Grows the freshly built model to the tokenizer; returns the line the CLI prints, or null when nothing grew.
export function growModelVocab(
  model: CausalLM, tokenizer: Tokenizer, vocab: AddedVocab, config: Pick<RetuneConfig, 'init_special_tokens' | 'seed'>,
): string | null {
  if (!vocab.resizeVocab) return null;
  const idOf = (token: string): number | undefined => tokenizer.tokenToId(token);
  const newTokenIds = vocab.tokens.map(idOf).filter((id): id is number => id !== undefined);
  let descriptions: Map<number, number[]> | null = null;
  if (vocab.descriptions !== null) {
    descriptions = new Map();
    for (const [token, text] of vocab.descriptions) {
      const id = idOf(token);
      if (id !== undefined) descriptions.set(id, tokenizer.encode(text, { addSpecialTokens: false }));
    }
  }
  const grown = growVocab(model, { size: tokenizer.size, newTokenIds, init: config.init_special_tokens, descriptions, seed: config.seed });
  return grown === null ? null : `Resized token embeddings from ${grown.from} to ${grown.to}.`;
}

// LoRA with resize_vocab: the embedding and LM head join additional_target unless it is set (LLaMA-Factory's rule,
// which names both modules of a tied model too; PEFT then trains them as two copies, see adapters/adapter-set.ts).
export function loraTargets<T extends Pick<RetuneConfig, 'finetuning_type' | 'additional_target'>>(config: T, vocab: AddedVocab): T {
  if (!vocab.resizeVocab || config.finetuning_type !== 'lora' || config.additional_target !== null) return config;
  return { ...config, additional_target: 'embed_tokens,lm_head' };
}
