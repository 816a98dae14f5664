// The vocabulary keys (add_tokens, add_special_tokens, new_special_tokens_config, resize_vocab) when chat, api,
// predict and export open a model: the tokens join the tokenizer and a base model grows exactly as training grows it
// (the same ids; the same rows from init_special_tokens and seed), before any adapter is merged, so a plain base
// model configured like a run gets that run's vocabulary. A folder whose tokenizer already holds the tokens (the
// grown tokenizer an adapter or a full run saved) makes the keys a no-op. An adapter whose saved tokenizer lacks a
// configured token was trained with other tokens: its new rows would not match the ids, so that is refused.
import type { RetuneConfig } from '../config/schema.js';
import { addConfiguredTokens, type AddedVocab, type Tokenizer } from '../data/index.js';
import type { VocabArgs } from '../data/vocab.js';
import type { CausalLM } from '../model/index.js';
import { splitList } from '../model/adapters/finetuning.js';
import { growModelVocab } from '../train/vocab.js';
import { UsageError } from '../util/errors.js';

export type InferVocabConfig = VocabArgs & Pick<RetuneConfig, 'init_special_tokens' | 'seed'>;

// Whether the config names tokens to add or asks for resize_vocab.
export function configuresVocab(config: VocabArgs): boolean {
  return config.resize_vocab || [config.add_tokens, config.add_special_tokens, config.new_special_tokens_config].some((v) => v !== null);
}

export class InferenceVocab {
  readonly tokenizer: Tokenizer;
  private readonly loadedSize: number;
  private readonly config: InferVocabConfig;
  private readonly vocab: AddedVocab;

  // `adapterDir`: the adapter whose saved tokenizer `tokenizer` is, or null for the model folder's own.
  constructor(tokenizer: Tokenizer, config: InferVocabConfig, adapterDir: string | null) {
    this.tokenizer = tokenizer;
    this.loadedSize = tokenizer.size;
    this.config = config;
    this.vocab = addConfiguredTokens(tokenizer, config);
    const missing = this.vocab.added[0];
    if (adapterDir !== null && missing !== undefined) {
      const key = splitList(config.add_tokens).includes(missing) ? 'add_tokens'
        : config.new_special_tokens_config === null ? 'add_special_tokens' : 'new_special_tokens_config';
      throw new UsageError(`${key}: ${JSON.stringify(missing)} is not in the tokenizer the adapter ${adapterDir} saved, so ` +
        'the adapter was trained with other tokens; set the token keys as its training run did, or remove them (the ' +
        'adapter\'s tokenizer is then used as it is)');
    }
  }

  // Whether the tokenizer gained tokens here (the config's, or a template's EOS), so its files must be written anew.
  get changed(): boolean {
    return this.tokenizer.size > this.loadedSize;
  }

  // Grows the model as training grew its base: when tokens were added here, or the tokenizer (an adapter's) has more
  // tokens than the model has rows and the keys name tokens or resize_vocab, as the run that saved it had them. A
  // model with a row for every token is left alone (a grown run's own folder). Returns training's line, or null.
  grow(model: CausalLM): string | null {
    if (!this.changed && this.tokenizer.size <= model.embedTokens.weight.shape[0]) return null;
    if (!this.vocab.resizeVocab && this.vocab.tokens.length === 0) return null;
    return growModelVocab(model, this.tokenizer, { ...this.vocab, resizeVocab: true }, this.config);
  }
}
