// A model's tokenizer from its HF files: tokenizer.json drives the encoding (through @huggingface/tokenizers) and
// tokenizer_config.json supplies the special tokens, add_bos_token and the jinja chat_template.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template as JinjaTemplate } from '@huggingface/jinja';
import { UsageError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/write-atomic.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  tools?: unknown[];
  // Extra variables some templates read, e.g. { enable_thinking: false } for Qwen3.
  variables?: Record<string, unknown>;
}

type TokenConfig = string | { content?: string } | null | undefined;

// A token added to the vocabulary after loading, as transformers' add_tokens records it in tokenizer.json.
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export class Tokenizer {
  readonly dir: string;
  // sha256 over tokenizer.json and tokenizer_config.json (and the tokens added since): part of the dataset fingerprint.
  sourceHash: string;
  // Tokens added since loading (LLaMA-Factory's add_tokens / add_special_tokens, a template's missing EOS and stop
  // words), in order: tokenization workers add them again, and saveTokenizer writes them.
  added: AddedToken[] = [];
  readonly chatTemplate: string | null;
  readonly addBosToken: boolean;
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
  readonly json: Record<string, unknown>; // tokenizer.json as read
  readonly config: Record<string, unknown>; // tokenizer_config.json as read
  private hf: HfTokenizer;

  constructor(dir: string, tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, sourceHash: string) {
    this.dir = dir;
    this.sourceHash = sourceHash;
    this.json = tokenizerJson;
    this.config = config;
    this.hf = this.build();
    this.chatTemplate = readChatTemplate(config, join(dir, 'tokenizer_config.json'));
    this.addBosToken = config.add_bos_token === true;
    this.bosToken = tokenContent(config.bos_token as TokenConfig);
    this.eosToken = tokenContent(config.eos_token as TokenConfig);
    this.padToken = tokenContent(config.pad_token as TokenConfig);
    this.bosId = this.idOrNull(this.bosToken, 'bos_token');
    this.eosId = this.idOrNull(this.eosToken, 'eos_token');
    this.padId = this.idOrNull(this.padToken, 'pad_token');
  }

  // A copy sharing the (expensive) vocabulary but with its own special-token fields, which templates may replace.
  clone(): Tokenizer {
    return Object.assign(Object.create(Tokenizer.prototype) as Tokenizer, this);
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.hf.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  // transformers' len(tokenizer): one past the highest id of the vocabulary and the added tokens.
  get size(): number {
    const model = this.json.model as { vocab?: unknown } | undefined;
    const vocab = model?.vocab;
    let top = Array.isArray(vocab) ? vocab.length - 1 : -1;
    if (vocab !== null && typeof vocab === 'object' && !Array.isArray(vocab)) {
      for (const id of Object.values(vocab as Record<string, number>)) top = Math.max(top, id);
    }
    for (const t of this.addedTokens()) top = Math.max(top, Number(t.id));
    return top + 1;
  }

  // transformers' add_tokens(tokens, special_tokens=special): each token the vocabulary lacks gets the next id, so it
  // encodes as one id (special tokens are matched before normalization, as HF marks them normalized: false) and
  // decodes back. Returns the tokens that were new.
  addTokens(tokens: string[], special: boolean): string[] {
    const fresh: AddedToken[] = [];
    for (const content of tokens) {
      if (this.tokenToId(content) !== undefined || fresh.some((t) => t.content === content)) continue;
      fresh.push({ id: this.size + fresh.length, content, special });
    }
    if (fresh.length === 0) return [];
    this.added = [...this.added, ...fresh];
    this.hf = this.build();
    this.sourceHash = createHash('sha256').update(this.sourceHash).update(JSON.stringify(fresh)).digest('hex');
    return fresh.map((t) => t.content);
  }

  // LLaMA-Factory's replace_eos / missing-eos fix (Template._add_or_replace_eos_token): a token the vocabulary lacks
  // is added as a special token, as add_special_tokens({"eos_token": ...}) does.
  setEosToken(token: string): void {
    this.addTokens([token], true);
    this.eosToken = token;
    this.eosId = this.tokenToId(token) as number;
  }

  setPadToken(token: string, id: number): void {
    this.padToken = token;
    this.padId = id;
  }

  // Renders the model's own jinja chat_template, as transformers' apply_chat_template(tokenize=False) does.
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) {
      throw new UsageError(`the tokenizer in ${this.dir} has no chat_template in tokenizer_config.json`);
    }
    const template = new JinjaTemplate(this.chatTemplate);
    return template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      tools: opts.tools,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      pad_token: this.padToken ?? '',
      ...opts.variables,
    });
  }

  // tokenizer.json's added_tokens with the tokens added since loading (HF's entry format).
  addedTokens(): Record<string, unknown>[] {
    const base = Array.isArray(this.json.added_tokens) ? this.json.added_tokens as Record<string, unknown>[] : [];
    return [...base, ...this.added.map((t) => ({
      id: t.id, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: !t.special, special: t.special,
    }))];
  }

  private build(): HfTokenizer {
    try {
      return new HfTokenizer({ ...this.json, added_tokens: this.addedTokens() }, this.config);
    } catch (err) {
      throw new UsageError(`${join(this.dir, 'tokenizer.json')}: unsupported or incomplete tokenizer (${(err as Error).message})`);
    }
  }

  private idOrNull(token: string | null, field: string): number | null {
    if (token === null) return null;
    const id = this.tokenToId(token);
    if (id === undefined) {
      throw new UsageError(`${join(this.dir, 'tokenizer_config.json')}: ${field} ${JSON.stringify(token)} is not in tokenizer.json`);
    }
    return id;
  }
}

export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const jsonPath = join(dir, 'tokenizer.json');
  const configPath = join(dir, 'tokenizer_config.json');
  if (!existsSync(jsonPath)) {
    throw new UsageError(`${jsonPath}: not found (Retune needs the fast tokenizer file tokenizer.json)`);
  }
  const jsonBytes = readFileSync(jsonPath);
  const configBytes = existsSync(configPath) ? readFileSync(configPath) : Buffer.from('{}');
  const tokenizerJson = parseJsonObject(jsonBytes.toString('utf8'), jsonPath);
  const config = parseJsonObject(configBytes.toString('utf8'), configPath);
  const hash = createHash('sha256').update(jsonBytes).update('\0').update(configBytes).digest('hex');
  return new Tokenizer(dir, tokenizerJson, config, hash);
}

function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path}: invalid JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${path}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

function tokenContent(value: TokenConfig): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  return typeof value.content === 'string' ? value.content : null;
}

// chat_template is a string, or a list of named templates of which transformers uses "default".
function readChatTemplate(config: Record<string, unknown>, path: string): string | null {
  const value = config.chat_template;
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const entry = value.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default');
    if (entry && typeof (entry as { template?: unknown }).template === 'string') return (entry as { template: string }).template;
  }
  throw new UsageError(`${path}: chat_template must be a string or a list with a "default" entry`);
}

// The folder whose tokenizer goes with a model and its adapters: the last adapter's when it holds a tokenizer.json
// (a Retune run saves its tokenizer beside the adapter, grown when it added tokens), else the model's own.
export function tokenizerFolder(modelDir: string, adapters: string[]): string {
  const last = adapters.at(-1);
  return last !== undefined && existsSync(join(last, 'tokenizer.json')) ? last : modelDir;
}

// Writes tokenizer.json and tokenizer_config.json with the added tokens (transformers' save_pretrained layout:
// added_tokens in tokenizer.json, added_tokens_decoder in tokenizer_config.json) and the EOS and pad in force, so
// transformers' AutoTokenizer and Retune load the grown tokenizer from `dir`.
export function saveTokenizer(tokenizer: Tokenizer, dir: string): void {
  writeJsonAtomic(join(dir, 'tokenizer.json'), { ...tokenizer.json, added_tokens: tokenizer.addedTokens() });
  const decoder = { ...(tokenizer.config.added_tokens_decoder as Record<string, unknown> | undefined) };
  for (const t of tokenizer.added) {
    decoder[String(t.id)] = { content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: !t.special, special: t.special };
  }
  writeJsonAtomic(join(dir, 'tokenizer_config.json'), {
    ...tokenizer.config, added_tokens_decoder: decoder, eos_token: tokenizer.eosToken, pad_token: tokenizer.padToken,
  });
}
