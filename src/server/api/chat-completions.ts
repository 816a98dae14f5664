// POST /v1/chat/completions: a conversation through the chat template (tools in the template's tool format), the
// reply as one JSON or streamed as chunks; function calls in a reply come back as tool_calls.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Completion } from '../../infer/engine.js';
import { abortOnClose, EventStream, finishReasonOf, generateChoices, newId, usageOf, type ApiContext } from './choices.js';
import { toApiError, errorBody } from './errors.js';
import { chatRequest, parseBody, toChatPrompt } from './requests.js';

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface Answer {
  content: string | null;
  toolCalls: ToolCall[] | null;
  finishReason: 'stop' | 'length' | 'tool_calls';
}

export async function chatCompletions(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const req = parseBody(chatRequest, request.body);
  const prompt = toChatPrompt(req);
  const promptIds = ctx.engine.chatPrompt(prompt.messages, prompt.system, prompt.tools);
  const signal = abortOnClose(reply);
  const id = newId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const answerOf = (r: Completion): Answer => answer(ctx, r, prompt.tools !== null);
  if (!req.stream) {
    const results = await generateChoices(ctx, promptIds, req, signal);
    return {
      id, object: 'chat.completion', created, model: ctx.modelName, system_fingerprint: null,
      choices: results.map(answerOf).map((a, index) => ({
        index, message: { role: 'assistant', content: a.content, ...(a.toolCalls ? { tool_calls: a.toolCalls } : {}) },
        logprobs: null, finish_reason: a.finishReason,
      })),
      usage: usageOf(promptIds, results),
    };
  }
  const chunk = (index: number, delta: Record<string, unknown>, finishReason: string | null = null): unknown => ({
    id, object: 'chat.completion.chunk', created, model: ctx.modelName, system_fingerprint: null,
    choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
  });
  let stream: EventStream | null = null;
  // With tools a reply is only known to be a call once it is complete, so it is sent whole at the end.
  const onText = prompt.tools === null ? (index: number, content: string) => stream?.send(chunk(index, { content })) : undefined;
  const done = generateChoices(ctx, promptIds, req, signal, { onText });
  stream = new EventStream(reply);
  for (let i = 0; i < (req.n ?? 1); i++) stream.send(chunk(i, { role: 'assistant', content: '' }));
  try {
    const results = await done;
    results.map(answerOf).forEach((a, index) => {
      if (a.toolCalls !== null) stream.send(chunk(index, { tool_calls: a.toolCalls.map((call, i) => ({ index: i, ...call })) }));
      else if (prompt.tools !== null && a.content) stream.send(chunk(index, { content: a.content }));
      stream.send(chunk(index, {}, a.finishReason));
    });
    if (req.stream_options?.include_usage) {
      stream.send({ id, object: 'chat.completion.chunk', created, model: ctx.modelName, choices: [], usage: usageOf(promptIds, results) });
    }
  } catch (err) {
    stream.send(errorBody(toApiError(err)));
  }
  stream.end();
  return reply;
}

function answer(ctx: ApiContext, r: Completion, toolsOffered: boolean): Answer {
  const calls = toolsOffered ? ctx.engine.opened.template.toolFormat.extract(r.text) : null;
  if (calls === null) return { content: r.text, toolCalls: null, finishReason: finishReasonOf(r) };
  return {
    content: null,
    toolCalls: calls.map((c) => ({ id: newId('call_'), type: 'function', function: { name: c.name, arguments: c.arguments } })),
    finishReason: 'tool_calls',
  };
}
