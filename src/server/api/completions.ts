// POST /v1/completions: a raw prompt (no template), continued until the model's EOS, a stop string or max_tokens.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { abortOnClose, EventStream, finishReasonOf, generateChoices, newId, usageOf, type ApiContext } from './choices.js';
import { errorBody, toApiError } from './errors.js';
import { completionRequest, parseBody } from './requests.js';

export async function completions(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const req = parseBody(completionRequest, request.body);
  const text = typeof req.prompt === 'string' ? req.prompt : req.prompt[0];
  const promptIds = ctx.engine.rawPrompt(text);
  const signal = abortOnClose(reply);
  const id = newId('cmpl-');
  const created = Math.floor(Date.now() / 1000);
  const stopIds = ctx.engine.rawStopIds();
  const chunk = (index: number, piece: string, finishReason: string | null): unknown => ({
    id, object: 'text_completion', created, model: ctx.modelName,
    choices: [{ index, text: piece, logprobs: null, finish_reason: finishReason }],
  });
  if (!req.stream) {
    const results = await generateChoices(ctx, promptIds, req, signal, { stopIds });
    return {
      id, object: 'text_completion', created, model: ctx.modelName,
      choices: results.map((r, index) => ({ index, text: r.text, logprobs: null, finish_reason: finishReasonOf(r) })),
      usage: usageOf(promptIds, results),
    };
  }
  let stream: EventStream | null = null;
  const done = generateChoices(ctx, promptIds, req, signal, { stopIds, onText: (index, piece) => stream?.send(chunk(index, piece, null)) });
  stream = new EventStream(reply);
  try {
    const results = await done;
    results.forEach((r, index) => stream.send(chunk(index, '', finishReasonOf(r))));
    if (req.stream_options?.include_usage) {
      stream.send({ id, object: 'text_completion', created, model: ctx.modelName, choices: [], usage: usageOf(promptIds, results) });
    }
  } catch (err) {
    stream.send(errorBody(toApiError(err)));
  }
  stream.end();
  return reply;
}
