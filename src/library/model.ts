// The library's model: a loaded model with its tokenizer and chat template, plus forward, loss, streaming generation
// and chat. Generation goes through the same engine as `retune chat` and `retune api`, so concurrent calls on one
// model are decoded in batches.
import type { Message, Template, Tokenizer } from '../data/index.js';
import { InferenceEngine, type Completion } from '../infer/engine.js';
import { openModel, type InferDtype } from '../infer/open.js';
import type { CausalLM, ModelConfig, SamplingOptions } from '../model/index.js';
import { noGrad } from '../tensor/autograd.js';
import { UsageError } from '../util/errors.js';

export interface LoadModelOptions {
  adapter?: string | string[]; // PEFT adapter folder(s), merged in order
  dtype?: InferDtype; // 'bfloat16' holds the weights as bf16; 'auto' and 'float32' as float32
  template?: string; // chat template name; unset: the tokenizer's chat_template, else `empty`
  maxBatch?: number; // concurrent generations decoded together (default 8)
}

export interface GenerateTextOptions extends SamplingOptions {
  maxNewTokens?: number; // default: up to 1024, within the model's context
  stop?: string[]; // the text ends before the first of these
  signal?: AbortSignal;
}

// One generated token and the text it made printable. The last item may carry id null: text held back until the
// end (a partial character or a possible stop string) and released then.
export interface GeneratedToken {
  id: number | null;
  text: string;
}

export interface ChatOptions extends GenerateTextOptions {
  system?: string;
  tools?: Record<string, unknown>[]; // function definitions, formatted by the template's tool format
  onText?: (delta: string) => void;
}

export interface Logits {
  data: Float32Array; // (B, T, V) row-major
  shape: [number, number, number];
}

export class Model {
  readonly causalLM: CausalLM;
  readonly tokenizer: Tokenizer;
  readonly template: Template;
  private readonly engine: InferenceEngine;

  constructor(engine: InferenceEngine) {
    this.engine = engine;
    this.causalLM = engine.opened.model;
    this.tokenizer = engine.opened.tokenizer;
    this.template = engine.opened.template;
  }

  get config(): ModelConfig {
    return this.causalLM.config;
  }

  // ids: one sequence or several of equal length -> logits (B, T, V)
  forward(ids: number[] | number[][]): Logits {
    const { flat, B, T } = toBatch(ids, 'ids', this.config.vocab_size);
    const logits = noGrad(() => this.causalLM.forward(flat, B, T));
    return { data: logits.data, shape: [B, T, this.config.vocab_size] };
  }

  // Mean cross-entropy of labels (aligned with ids; shifted inside as in transformers; -100 ignored).
  loss(ids: number[] | number[][], labels: number[] | number[][]): number {
    const x = toBatch(ids, 'ids', this.config.vocab_size);
    const y = toBatch(labels, 'labels', this.config.vocab_size);
    if (x.B !== y.B || x.T !== y.T) throw new UsageError(`loss: ids are ${x.B}x${x.T} but labels ${y.B}x${y.T}`);
    return noGrad(() => this.causalLM.loss(x.flat, y.flat, x.B, x.T)).item();
  }

  // Streams the continuation of a raw prompt (text, encoded with the tokenizer's special tokens, or ids); it ends at
  // the model's EOS, a stop string or maxNewTokens. Breaking out of the loop stops the generation.
  async *generate(prompt: string | number[], opts: GenerateTextOptions = {}): AsyncGenerator<GeneratedToken> {
    const ids = typeof prompt === 'string' ? this.engine.rawPrompt(prompt) : prompt;
    const controller = new AbortController();
    const abort = (): void => controller.abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    const queue: GeneratedToken[] = [];
    let wake: (() => void) | null = null;
    const push = (item: GeneratedToken): GeneratedToken => {
      queue.push(item);
      wake?.();
      return item;
    };
    let ended = false;
    // A token's text arrives right after it within the same decode step, before the loop below can take it.
    let last: GeneratedToken | null = null;
    const done = this.engine.complete(ids, {
      ...completeOptions(opts, ids, this.engine), stopIds: this.engine.rawStopIds(), signal: controller.signal,
      onToken: (id) => void (last = push({ id, text: '' })),
      onText: (delta) => void (ended || last === null ? push({ id: null, text: delta }) : (last.text += delta)),
    }).finally(() => {
      ended = true;
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as GeneratedToken;
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      await done;
      while (queue.length > 0) yield queue.shift() as GeneratedToken;
    } finally {
      controller.abort();
      opts.signal?.removeEventListener('abort', abort);
    }
  }

  // One assistant reply to a conversation, through the chat template.
  chat(messages: Message[], opts: ChatOptions = {}): Promise<Completion> {
    const tools = opts.tools === undefined ? null : JSON.stringify(opts.tools);
    const ids = this.engine.chatPrompt(messages, opts.system ?? null, tools);
    return this.engine.complete(ids, { ...completeOptions(opts, ids, this.engine), signal: opts.signal, onText: opts.onText });
  }
}

export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<Model> {
  const adapters = opts.adapter === undefined ? [] : Array.isArray(opts.adapter) ? opts.adapter : [opts.adapter];
  const opened = await openModel(dir, { adapters, dtype: opts.dtype, template: opts.template });
  return new Model(new InferenceEngine(opened, { maxBatch: opts.maxBatch }));
}

// One reply of `model` to `messages` (the same as model.chat).
export function chat(model: Model, messages: Message[], opts: ChatOptions = {}): Promise<Completion> {
  return model.chat(messages, opts);
}

function completeOptions(opts: GenerateTextOptions, ids: number[], engine: InferenceEngine): { maxNewTokens: number; sampling: SamplingOptions; stop?: string[] } {
  const { temperature, topP, topK, repetitionPenalty, doSample, seed } = opts;
  const sampling = { temperature, topP, topK, repetitionPenalty, doSample, seed };
  return { maxNewTokens: opts.maxNewTokens ?? Math.min(1024, engine.room(ids)), sampling, stop: opts.stop };
}

// One id list or equal-length lists -> (B*T) ids, each in 0..V-1 (labels may also be -100)
function toBatch(rows: number[] | number[][], what: string, V: number): { flat: Int32Array; B: number; T: number } {
  const list = rows.length > 0 && Array.isArray(rows[0]) ? (rows as number[][]) : [rows as number[]];
  const T = list[0].length;
  if (T === 0) throw new UsageError(`${what}: empty sequence`);
  if (list.some((r) => r.length !== T)) throw new UsageError(`${what}: sequences of different lengths; pad them to one length`);
  const flat = list.flat();
  const bad = flat.find((id) => !Number.isInteger(id) || id >= V || (id < 0 && !(what === 'labels' && id === -100)));
  if (bad !== undefined) throw new UsageError(`${what}: ${bad} is not a token id of this model (0..${V - 1})`);
  return { flat: Int32Array.from(flat), B: list.length, T };
}
