// The tokens a config adds to the tokenizer, as LLaMA-Factory's ModelArguments.__post_init__ and patch_tokenizer do
// (hiyouga/LLaMA-Factory ff6d4d12, hparams/model_args.py and model/patcher.py): add_tokens as normal tokens, then
// add_special_tokens as special ones, where new_special_tokens_config (a YAML map token -> description) takes the
// place of add_special_tokens. Adding a token the vocabulary lacks turns resize_vocab on.
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { RetuneConfig } from '../config/schema.js';
import { UsageError } from '../util/errors.js';
import type { Tokenizer } from './tokenizer.js';

export type VocabArgs = Pick<RetuneConfig, 'add_tokens' | 'add_special_tokens' | 'new_special_tokens_config' | 'resize_vocab'>;

export interface AddedVocab {
  tokens: string[]; // add_tokens then the special tokens, as configured (LLaMA-Factory's new_tokens)
  added: string[]; // those the tokenizer lacked
  descriptions: Map<string, string> | null; // new_special_tokens_config's descriptions
  resizeVocab: boolean; // resize_vocab, or true once a token was added
}

export function addConfiguredTokens(tokenizer: Tokenizer, args: VocabArgs): AddedVocab {
  const normal = splitTokens(args.add_tokens);
  const descriptions = args.new_special_tokens_config === null ? null : readDescriptions(args.new_special_tokens_config);
  const special = descriptions === null ? splitTokens(args.add_special_tokens) : [...descriptions.keys()];
  const added = [...tokenizer.addTokens(normal, false), ...tokenizer.addTokens(special, true)];
  return { tokens: [...normal, ...special], added, descriptions, resizeVocab: args.resize_vocab || added.length > 0 };
}

function splitTokens(list: string | null): string[] {
  return (list ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

// new_special_tokens_config: a YAML mapping of token to description text.
function readDescriptions(path: string): Map<string, string> {
  const where = `new_special_tokens_config: ${path}`;
  if (!existsSync(path)) throw new UsageError(`${where}: no such file`);
  let value: unknown;
  try {
    value = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`${where}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${where}: expected a mapping of each new special token to its description ("<tok>: text")`);
  }
  const out = new Map<string, string>();
  for (const [token, description] of Object.entries(value as Record<string, unknown>)) {
    if (typeof description !== 'string') {
      throw new UsageError(`${where}: the description of ${JSON.stringify(token)} must be a string`);
    }
    out.set(token, description);
  }
  if (out.size === 0) throw new UsageError(`${where}: the mapping is empty; list each new special token with a description`);
  return out;
}
