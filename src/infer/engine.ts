// Text in, text out over one opened model: chat prompts through the template, raw prompts through the tokenizer,
// replies decoded by the shared scheduler (so concurrent callers are batched) and streamed as printable text.
// `retune chat`, `retune api` and the library all generate through here.
import type { Message } from '../data/index.js';
import { modelStopIds, type SamplingOptions } from '../model/index.js';
import { UsageError } from '../util/errors.js';
import type { OpenedModel } from './open.js';
import { Scheduler, type FinishReason, type SchedulerOptions } from './scheduler.js';
import { TextStream } from './text-stream.js';

export interface CompleteOptions {
  maxNewTokens?: number; // default: as many as the context leaves, at most `defaultMaxNewTokens`
  sampling?: SamplingOptions;
  stop?: string[]; // stop strings: the reply ends before the first one
  stopIds?: number[]; // default: the template's stop tokens (chat) or the model's EOS ids (raw prompts)
  signal?: AbortSignal;
  onText?: (delta: string) => void; // printable text as it grows
  onToken?: (id: number) => void;
}

export interface Completion {
  text: string;
  ids: number[];
  finishReason: FinishReason;
  promptTokens: number;
}

export interface EngineOptions extends SchedulerOptions {
  skipSpecialTokens?: boolean; // default true
  defaultMaxNewTokens?: number; // default 1024 (LLaMA-Factory's max_new_tokens)
}

export class InferenceEngine {
  readonly scheduler: Scheduler;
  private readonly skipSpecialTokens: boolean;
  private readonly defaultMaxNewTokens: number;

  constructor(
    readonly opened: OpenedModel,
    opts: EngineOptions = {},
  ) {
    this.scheduler = new Scheduler(opened.model, opts);
    this.skipSpecialTokens = opts.skipSpecialTokens ?? true;
    this.defaultMaxNewTokens = opts.defaultMaxNewTokens ?? 1024;
  }

  get contextLength(): number {
    return this.opened.model.config.max_position_embeddings;
  }

  // Prompt ids of a conversation ending in a user (or tool) turn, with the assistant header after it.
  chatPrompt(messages: Message[], system?: string | null, tools?: string | null): number[] {
    const { template, tokenizer } = this.opened;
    return template.encodePrompt(tokenizer, messages, system, tools);
  }

  // Ids of a raw prompt (the tokenizer's special tokens, e.g. BOS, included).
  rawPrompt(text: string): number[] {
    return this.opened.tokenizer.encode(text);
  }

  chatStopIds(): number[] {
    return this.opened.template.stopTokenIds(this.opened.tokenizer);
  }

  rawStopIds(): number[] {
    const eos = this.opened.tokenizer.eosId;
    return [...new Set([...(eos === null ? [] : [eos]), ...modelStopIds(this.opened.model)])];
  }

  // Room for new tokens after a prompt, or a UsageError naming the numbers.
  room(promptIds: number[]): number {
    const room = this.contextLength - promptIds.length;
    if (room <= 0) {
      throw new UsageError(`the prompt is ${promptIds.length} tokens, the model's context is ${this.contextLength} tokens`);
    }
    return room;
  }

  // Generates one reply. Throws at once (UsageError, QueueFullError) when the request cannot be taken.
  complete(promptIds: number[], opts: CompleteOptions = {}): Promise<Completion> {
    const maxNewTokens = opts.maxNewTokens ?? Math.min(this.defaultMaxNewTokens, this.room(promptIds));
    const text = new TextStream(this.opened.tokenizer, this.skipSpecialTokens, opts.stop ?? []);
    const done = this.scheduler.submit({
      promptIds,
      maxNewTokens,
      sampling: opts.sampling ?? {},
      stopIds: opts.stopIds ?? this.chatStopIds(),
      signal: opts.signal,
      onToken: (id) => {
        opts.onToken?.(id);
        const delta = text.push(id);
        if (delta !== '') opts.onText?.(delta);
        return !text.stopped;
      },
    });
    return done.then((result) => {
      const rest = text.finish();
      if (rest !== '') opts.onText?.(rest);
      const finishReason = text.stopped ? 'stop' : result.finishReason;
      return { text: text.text, ids: result.ids, finishReason, promptTokens: promptIds.length };
    });
  }
}
