// What both endpoints share: the `n` replies to one prompt (each its own sequence in the scheduler, so they decode
// together), the abort that a closed connection triggers, server-sent events, and the usage counts.
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { RetuneConfig } from '../../config/schema.js';
import type { Completion, InferenceEngine } from '../../infer/engine.js';
import { samplingOf, stopsOf, type ChatRequest, type CompletionRequest } from './requests.js';

export interface ApiContext {
  engine: InferenceEngine;
  config: RetuneConfig;
  modelName: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

// Submits the n sequences at once, so a request the scheduler refuses (bad options, no room, queue full) throws here,
// before any response is started; the promise then resolves when all are done.
export function generateChoices(
  ctx: ApiContext, promptIds: number[], req: ChatRequest | CompletionRequest, signal: AbortSignal,
  opts: { stopIds?: number[]; onText?: (index: number, delta: string) => void } = {},
): Promise<Completion[]> {
  const n = req.n ?? 1;
  const requested = ('max_completion_tokens' in req ? req.max_completion_tokens : null) ?? req.max_tokens ?? null;
  const maxNewTokens = requested ?? Math.min(ctx.config.max_new_tokens, ctx.engine.room(promptIds));
  const sampling = samplingOf(req, ctx.config);
  const stop = stopsOf(req);
  // Siblings already queued are dropped when a later one is refused.
  const siblings = new AbortController();
  const cancel = (): void => siblings.abort();
  signal.addEventListener('abort', cancel, { once: true });
  const pending: Promise<Completion>[] = [];
  try {
    for (let i = 0; i < n; i++) {
      pending.push(ctx.engine.complete(promptIds, {
        maxNewTokens, stop, stopIds: opts.stopIds, signal: siblings.signal,
        sampling: { ...sampling, seed: sampling.seed === undefined ? undefined : sampling.seed + i },
        onText: opts.onText === undefined ? undefined : (delta) => opts.onText!(i, delta),
      }));
    }
  } catch (err) {
    cancel();
    throw err;
  }
  return Promise.all(pending).finally(() => signal.removeEventListener('abort', cancel));
}

// Aborted when the client goes away before the response is complete.
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function usageOf(promptIds: number[], results: Completion[]): Usage {
  const completion = results.reduce((sum, r) => sum + r.ids.length, 0);
  return { prompt_tokens: promptIds.length, completion_tokens: completion, total_tokens: promptIds.length + completion };
}

// OpenAI's id shapes: chatcmpl-<hex>, cmpl-<hex>, call_<hex>.
export function newId(prefix: 'chatcmpl-' | 'cmpl-' | 'call_'): string {
  return `${prefix}${randomUUID().replaceAll('-', '')}`;
}

export function finishReasonOf(r: Completion): 'stop' | 'length' {
  return r.finishReason === 'length' ? 'length' : 'stop';
}

// A text/event-stream response: one `data: <json>` event per chunk, ending with `data: [DONE]`.
export class EventStream {
  constructor(private readonly reply: FastifyReply) {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  }

  send(data: unknown): void {
    if (!this.reply.raw.destroyed) this.reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (!this.reply.raw.destroyed) this.reply.raw.end('data: [DONE]\n\n');
  }
}
