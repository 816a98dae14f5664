// A model's tokenizer from its HF files: tokenizer.json drives the encoding (through @huggingface/tokenizers) and
// tokenizer_config.json supplies the special tokens, add_bos_token and the jinja chat_template.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template as JinjaTemplate } from '@huggingface/jinja';
import { UsageError } from '../util/errors.js';

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

export class Tokenizer {
  readonly dir: string;
  // sha256 over tokenizer.json and tokenizer_config.json: part of the dataset fingerprint.
  readonly sourceHash: string;
  readonly chatTemplate: string | null;
  readonly addBosToken: boolean;
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
  private readonly hf: HfTokenizer;

  constructor(dir: string, tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, sourceHash: string) {
    this.dir = dir;
    this.sourceHash = sourceHash;
    try {
      this.hf = new HfTokenizer(tokenizerJson, config);
    } catch (err) {
      throw new UsageError(`${join(dir, 'tokenizer.json')}: unsupported or incomplete tokenizer (${(err as Error).message})`);
    }
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

  // LLaMA-Factory's replace_eos / missing-eos fix: the token must already be in the vocabulary, since Retune does not
  // resize embeddings.
  setEosToken(token: string, reason: string): void {
    const id = this.tokenToId(token);
    if (id === undefined) {
      throw new UsageError(`${reason} needs the token ${JSON.stringify(token)} as EOS, but the tokenizer in ${this.dir} has ` +
        'no such token (Retune does not grow the vocabulary as resize_vocab does): pick a template matching this tokenizer');
    }
    this.eosToken = token;
    this.eosId = id;
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
