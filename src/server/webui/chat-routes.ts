// Chat routes: one model at a time, opened by the inference layer (src/infer) that `retune chat`, `retune api` and
// the library use, so a Board reply is the CLI's reply. Replies stream as server-sent events; Stop aborts the reply
// being generated; Unload lets the weights go.
import type { FastifyInstance } from 'fastify';
import { checkConfigObject } from '../../config/load.js';
import type { RetuneConfig } from '../../config/schema.js';
import { InferenceEngine } from '../../infer/engine.js';
import { openFromConfig, samplingFromConfig } from '../../infer/open.js';
import type { ChatEvent, ChatLoadRequest, ChatReplyRequest, ChatStatus, RawConfig } from './api-types.js';
import { HttpError } from './http-error.js';
import type { RootedPaths } from './paths.js';
import { runModelConfig } from './run-model.js';
import { splitList } from '../../model/adapters/finetuning.js';

interface Loaded {
  engine: InferenceEngine;
  config: RetuneConfig;
  status: ChatStatus;
}

function chatConfig(paths: RootedPaths, body: ChatLoadRequest): RawConfig {
  if (typeof body.dir === 'string') return runModelConfig(paths, body.dir, body.template);
  return { model_name_or_path: body.model_name_or_path ?? null, adapter_name_or_path: body.adapter_name_or_path ?? null, template: body.template ?? null };
}

export function chatRoutes(app: FastifyInstance, paths: RootedPaths): void {
  let loaded: Loaded | null = null;
  let running: AbortController | null = null;
  const status = (): ChatStatus => ({ ...(loaded?.status ?? { loaded: false, model: null, adapters: [], template: null }), busy: running !== null });

  app.get('/api/chat', async () => status());

  app.post('/api/chat/load', async (request) => {
    const raw = chatConfig(paths, (request.body ?? {}) as ChatLoadRequest);
    const { loaded: checked, problems } = checkConfigObject(raw, 'chat');
    if (checked === null) throw new HttpError(400, problems.map((p) => p.message).join('\n'), problems);
    const config = checked.config;
    if (config.model_name_or_path === null) throw new HttpError(400, 'model_name_or_path is required to chat');
    paths.resolve(config.model_name_or_path, 'model_name_or_path');
    const adapters = splitList(config.adapter_name_or_path);
    for (const a of adapters) paths.resolve(a, 'adapter_name_or_path');
    if (running !== null) throw new HttpError(409, 'a reply is being generated; stop it first');
    loaded = null;
    const engine = new InferenceEngine(await openFromConfig(config), { skipSpecialTokens: config.skip_special_tokens, maxBatch: 1 });
    loaded = { engine, config, status: { loaded: true, busy: false, model: config.model_name_or_path, adapters, template: engine.opened.template.name } };
    return status();
  });

  app.post('/api/chat/reply', async (request, reply) => {
    if (loaded === null) throw new HttpError(409, 'no model is loaded: load one first');
    if (running !== null) throw new HttpError(409, 'a reply is being generated; stop it or wait');
    const body = (request.body ?? {}) as Partial<ChatReplyRequest>;
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0 || messages[messages.length - 1].role !== 'user') {
      throw new HttpError(400, 'messages: expected the conversation, ending with a user turn');
    }
    const { engine, config } = loaded;
    const promptIds = engine.chatPrompt(messages, body.system ?? null);
    const room = engine.room(promptIds);
    const base = samplingFromConfig(config);
    const sampling = {
      doSample: body.do_sample ?? base.doSample, temperature: body.temperature ?? base.temperature, topP: body.top_p ?? base.topP,
      topK: body.top_k ?? base.topK, repetitionPenalty: body.repetition_penalty ?? base.repetitionPenalty, seed: base.seed,
    };
    const controller = new AbortController();
    running = controller;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (event: ChatEvent): void => {
      reply.raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    // The response's close, not the request's: on Node 20 a request emits 'close' once its body has been read, long
    // before the client goes away. A reply that ended normally has writableEnded set and is not cancelled.
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) controller.abort();
    });
    try {
      const done = await engine.complete(promptIds, {
        maxNewTokens: Math.min(body.max_new_tokens ?? config.max_new_tokens, room), sampling, signal: controller.signal,
        onText: (text) => send({ type: 'token', text }),
      });
      send({ type: 'done', text: done.text, stopped: controller.signal.aborted });
    } catch (err) {
      send({ type: 'error', error: (err as Error).message });
    } finally {
      running = null;
      reply.raw.end();
    }
  });

  app.post('/api/chat/stop', async () => {
    running?.abort();
    return status();
  });

  app.post('/api/chat/unload', async () => {
    running?.abort();
    loaded = null;
    return status();
  });
}
