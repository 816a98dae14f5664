// Chat templates with LLaMA-Factory's semantics: a conversation [user, assistant, user, assistant, ...] becomes
// (prompt ids, response ids) pairs. Turn 0 carries prefix + system (+ tool list) + first query.
// The formats themselves live in template-table.ts; this file only knows how to apply a row.

import { UsageError } from '../util/errors.js';
import { TEMPLATES, type Slot, type TemplateKind, type TemplateSpec } from './template-table.js';
import { TOOL_FORMATS, pyJson, type FunctionCall, type ToolFormat } from './tools.js';
import type { Tokenizer } from './tokenizer.js';

// LLaMA-Factory's roles; `tool` (OpenAI's name) is accepted as observation.
export type Role = 'user' | 'assistant' | 'observation' | 'function';

export interface Message {
  role: Role | 'tool';
  content: string;
}

export type EncodedPair = [promptIds: number[], responseIds: number[]];

export interface TemplateOptions {
  defaultSystem?: string | null;
  toolFormat?: string | null;
  enableThinking?: boolean | null;
  preserveThinking?: boolean;
}

export type TemplateDescription = Required<TemplateSpec> & {
  name: string; enableThinking: boolean | null; preserveThinking: boolean;
};

export class Template {
  readonly name: string;
  readonly user: Slot[];
  readonly assistant: Slot[];
  readonly system: Slot[];
  function: Slot[];
  readonly observation: Slot[];
  readonly prefix: Slot[];
  readonly kind: TemplateKind;
  readonly stopWords: string[];
  readonly thoughtWords: [string, string];
  readonly efficientEos: boolean;
  readonly replaceEos: boolean;
  defaultSystem: string;
  toolFormatName: string;
  toolFormat: ToolFormat;
  functionFormat: ToolFormat;
  // LLaMA-Factory's three states: true (thoughts trained), false (thoughts removed, empty one in the prompt), null
  // (thoughts kept as written, an empty one in the prompt where missing).
  enableThinking: boolean | null;
  // LLaMA-Factory's preserve_thinking: keep the thoughts of earlier answers where they would be dropped (the prompt of
  // chat, pairwise and KTO rows; earlier turns under mask_history).
  preserveThinking: boolean;

  constructor(name: string, spec: TemplateSpec) {
    this.name = name;
    this.efficientEos = spec.efficientEos ?? false;
    // register_template's defaults: an EOS closes each answer unless the template uses efficient EOS.
    const defaultSlots: Slot[] = this.efficientEos ? ['{{content}}'] : ['{{content}}', { special: 'eos' }];
    this.user = spec.user ?? ['{{content}}'];
    this.assistant = spec.assistant ?? defaultSlots;
    this.system = spec.system ?? ['{{content}}'];
    this.function = spec.function ?? spec.assistant ?? defaultSlots;
    this.observation = spec.observation ?? spec.user ?? ['{{content}}'];
    this.prefix = spec.prefix ?? [];
    this.kind = spec.kind ?? 'plain';
    this.stopWords = spec.stopWords ?? [];
    this.thoughtWords = spec.thoughtWords ?? ['<think>\n', '\n</think>\n\n'];
    this.replaceEos = spec.replaceEos ?? false;
    this.defaultSystem = spec.defaultSystem ?? '';
    this.toolFormatName = spec.toolFormat ?? 'default';
    this.toolFormat = toolFormat(this.toolFormatName);
    this.functionFormat = this.toolFormat;
    this.enableThinking = true;
    this.preserveThinking = false;
  }

  // All turns as (prompt, response) pairs; messages alternate user/observation and assistant/function.
  // `dropHistoryThoughts` (mask_history without preserve_thinking): earlier answers lose their thoughts and, as only
  // the last answer is trained, only it gets an empty thought where it has none.
  encodeMultiturn(
    tokenizer: Tokenizer, messages: Message[], system?: string | null, tools?: string | null, dropHistoryThoughts = false,
  ): EncodedPair[] {
    let msgs = messages;
    if (this.kind === 'reasoning') {
      msgs = messages.map((m, i) => {
        const drop = this.enableThinking === false || (dropHistoryThoughts && i < messages.length - 2);
        return i % 2 === 1 && drop ? { ...m, content: this.removeThought(m.content) } : m;
      });
    }
    const encoded = this.encode(tokenizer, msgs, system, tools);
    if (this.kind === 'reasoning') {
      for (let i = dropHistoryThoughts ? msgs.length - 2 : 0; i + 1 < msgs.length; i += 2) {
        if (this.hasThought(msgs[i + 1].content)) continue;
        // An answer without a thought gets an empty one: in the prompt (no loss) unless thinking is enabled.
        if (this.enableThinking) encoded[i + 1] = this.thoughtIds(tokenizer).concat(encoded[i + 1]);
        else encoded[i] = encoded[i].concat(this.thoughtIds(tokenizer));
      }
    }
    const pairs: EncodedPair[] = [];
    for (let i = 0; i < encoded.length; i += 2) pairs.push([encoded[i], encoded[i + 1] ?? []]);
    return pairs;
  }

  // Everything before the last message as one prompt, the last message as the response (chat, pairwise, KTO).
  encodeOneturn(tokenizer: Tokenizer, messages: Message[], system?: string | null, tools?: string | null): EncodedPair {
    let msgs = messages;
    if (this.kind === 'reasoning') {
      msgs = messages.map((m, i) => {
        const isHistoryAnswer = i % 2 === 1 && i < messages.length - 2 && !this.preserveThinking;
        const isLast = i === messages.length - 1;
        return isHistoryAnswer || (isLast && this.enableThinking === false) ? { ...m, content: this.removeThought(m.content) } : m;
      });
    }
    const encoded = this.encode(tokenizer, msgs, system, tools);
    let prompt = encoded.slice(0, -1).flat();
    let response = encoded[encoded.length - 1] ?? [];
    if (this.kind === 'reasoning' && msgs.length > 0 && !this.hasThought(msgs[msgs.length - 1].content)) {
      if (this.enableThinking) response = this.thoughtIds(tokenizer).concat(response);
      else prompt = prompt.concat(this.thoughtIds(tokenizer));
    }
    return [prompt, response];
  }

  // Prompt ids for generation: the conversation so far (ending in a user turn) plus the assistant header.
  encodePrompt(tokenizer: Tokenizer, messages: Message[], system?: string | null, tools?: string | null): number[] {
    const [prompt] = this.encodeOneturn(tokenizer, [...messages, { role: 'assistant', content: '' }], system, tools);
    return prompt;
  }

  // EOS plus every stop word the vocabulary knows.
  stopTokenIds(tokenizer: Tokenizer): number[] {
    const ids = new Set<number>();
    if (tokenizer.eosId !== null) ids.add(tokenizer.eosId);
    for (const word of this.stopWords) {
      const id = tokenizer.tokenToId(word);
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  }

  // LLaMA-Factory's fix_special_tokens: replace_eos makes the first stop word the EOS; a missing EOS becomes
  // <|endoftext|>, a missing pad the EOS; the other stop words are added as special tokens. A token the vocabulary
  // lacks is added to it (the model then needs resize_vocab, which the trainer checks).
  fixTokenizer(tokenizer: Tokenizer): void {
    let stopWords = this.stopWords;
    if (this.replaceEos) {
      if (stopWords.length === 0) throw new UsageError(`template ${this.name}: replace_eos needs stop words`);
      if (tokenizer.eosToken !== stopWords[0]) tokenizer.setEosToken(stopWords[0]);
      stopWords = stopWords.slice(1);
    }
    if (tokenizer.eosId === null) tokenizer.setEosToken('<|endoftext|>');
    if (tokenizer.padId === null) tokenizer.setPadToken(tokenizer.eosToken as string, tokenizer.eosId as number);
    tokenizer.addTokens(stopWords, true);
  }

  // Everything that decides the token ids: the dataset fingerprint, and how tokenization workers rebuild the template.
  describe(): TemplateDescription {
    const { name, user, assistant, system, observation, prefix, kind, stopWords, thoughtWords, efficientEos, replaceEos } = this;
    return {
      name, user, assistant, system, function: this.function, observation, prefix, kind, stopWords, thoughtWords,
      efficientEos, replaceEos, defaultSystem: this.defaultSystem, toolFormat: this.toolFormatName, enableThinking: this.enableThinking,
      preserveThinking: this.preserveThinking,
    };
  }

  static fromDescription(d: TemplateDescription): Template {
    const template = new Template(d.name, d);
    template.enableThinking = d.enableThinking;
    template.preserveThinking = d.preserveThinking;
    return template;
  }

  removeThought(content: string): string {
    const [open, close] = this.thoughtWords;
    const pattern = new RegExp(`${escapeRegExp(open)}([\\s\\S]*?)${escapeRegExp(close)}`, 'g');
    return content.replace(pattern, '').replace(/^\n+/, '');
  }

  private hasThought(content: string): boolean {
    return content.includes(this.thoughtWords[0].trim()) || content.includes(this.thoughtWords[1].trim());
  }

  private thoughtIds(tokenizer: Tokenizer): number[] {
    return tokenizer.encode(this.thoughtWords[0] + this.thoughtWords[1], { addSpecialTokens: false });
  }

  // One id list per message.
  private encode(tokenizer: Tokenizer, messages: Message[], system?: string | null, tools?: string | null): number[][] {
    const sys = system || this.defaultSystem;
    const out: number[][] = [];
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      const elements: Slot[] = [];
      let fusedSystem = '';
      if (i === 0) {
        elements.push(...this.prefix);
        if (sys || tools) {
          const systemSlots = fill(this.system, { content: sys + (tools ? this.toolText(tools) : '') });
          // Llama-2 style templates put the system text inside the first user turn (first slot only).
          if (this.kind === 'llama2') fusedSystem = typeof systemSlots[0] === 'string' ? systemSlots[0] : '';
          else elements.push(...systemSlots);
        }
      }
      switch (message.role) {
        case 'user':
          elements.push(...fill(this.user, this.kind === 'llama2' ? { content: fusedSystem + message.content } : { content: message.content, idx: String(Math.floor(i / 2)) }));
          break;
        case 'assistant':
          elements.push(...fill(this.assistant, { content: message.content }));
          break;
        case 'observation':
        case 'tool':
          elements.push(...fill(this.observation, { content: message.content }));
          break;
        case 'function':
          elements.push(...fill(this.function, { content: this.functionText(message.content) }));
          break;
        default:
          throw new UsageError(`template ${this.name}: unexpected role ${JSON.stringify((message as Message).role)} in message ${i}`);
      }
      out.push(slotsToIds(tokenizer, elements, this.name));
    }
    return out;
  }

  private toolText(tools: string): string {
    let parsed: unknown;
    try {
      parsed = JSON.parse(tools);
    } catch {
      throw new UsageError(`invalid JSON in the tools description: ${JSON.stringify(tools.slice(0, 80))}`);
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    return list.length === 0 ? '' : this.toolFormat.tools(list as Record<string, unknown>[]);
  }

  // A function turn holds JSON calls ({name, arguments} or a list); an optional thought before them is kept verbatim.
  private functionText(content: string): string {
    const [open, close] = this.thoughtWords;
    const match = new RegExp(`${escapeRegExp(open)}([\\s\\S]*?)${escapeRegExp(close)}`).exec(content);
    const body = match ? content.replace(match[0], '') : content;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new UsageError(`invalid JSON in a function-call message: ${JSON.stringify(body.slice(0, 80))}`);
    }
    const calls: FunctionCall[] = (Array.isArray(parsed) ? parsed : [parsed]).map((call) => {
      const c = call as { name?: unknown; arguments?: unknown };
      if (typeof c?.name !== 'string' || c.arguments === undefined) {
        throw new UsageError(`a function-call message needs "name" and "arguments": ${JSON.stringify(body.slice(0, 80))}`);
      }
      return { name: c.name, arguments: pyJson(c.arguments) };
    });
    const text = this.functionFormat.functions(calls);
    return match ? match[0] + text : text;
  }
}

function toolFormat(name: string): ToolFormat {
  const format = TOOL_FORMATS[name];
  if (!format) throw new UsageError(`unknown tool_format ${JSON.stringify(name)}; known: ${Object.keys(TOOL_FORMATS).join(', ')}`);
  return format;
}

// StringFormatter.apply: each placeholder is replaced once, in every text slot.
function fill(slots: Slot[], values: Record<string, string>): Slot[] {
  return slots.map((slot) => {
    if (typeof slot !== 'string') return slot;
    let text = slot;
    for (const [name, value] of Object.entries(values)) text = text.replace(`{{${name}}}`, () => value);
    return text;
  });
}

function slotsToIds(tokenizer: Tokenizer, slots: Slot[], templateName: string): number[] {
  const ids: number[] = [];
  for (const slot of slots) {
    if (typeof slot === 'string') {
      if (slot.length > 0) for (const id of tokenizer.encode(slot, { addSpecialTokens: false })) ids.push(id);
    } else if ('special' in slot) {
      const id = slot.special === 'bos' ? tokenizer.bosId : tokenizer.eosId;
      if (id !== null) ids.push(id);
    } else {
      const id = tokenizer.tokenToId(slot.token);
      if (id === undefined) throw new UsageError(`template ${templateName} needs the token ${slot.token}, which the tokenizer lacks`);
      ids.push(id);
    }
  }
  return ids;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function templateNames(): string[] {
  return Object.keys(TEMPLATES).sort();
}

// A fresh template from the registry (callers may adjust default system, tool format, thinking).
export function getTemplate(name: string, opts: TemplateOptions = {}): Template {
  const spec = TEMPLATES[name];
  if (!spec) throw new UsageError(`template: unknown template ${JSON.stringify(name)}; known: ${templateNames().join(', ')}`);
  const template = new Template(name, spec);
  applyOptions(template, opts);
  return template;
}

export function applyOptions(template: Template, opts: TemplateOptions): void {
  if (opts.defaultSystem !== undefined && opts.defaultSystem !== null) template.defaultSystem = opts.defaultSystem;
  if (opts.toolFormat) {
    // As in LLaMA-Factory, an explicit tool_format also resets the function slots to the plain answer slots.
    template.toolFormatName = opts.toolFormat;
    template.toolFormat = toolFormat(opts.toolFormat);
    template.functionFormat = template.toolFormat;
    template.function = template.efficientEos ? ['{{content}}'] : ['{{content}}', { special: 'eos' }];
  }
  if (opts.enableThinking !== undefined) template.enableThinking = opts.enableThinking;
  if (opts.preserveThinking !== undefined) template.preserveThinking = opts.preserveThinking;
}
