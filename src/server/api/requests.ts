// The request bodies the API accepts, checked field by field (a wrong type or range is a 400 naming the field), and
// their translation into what the engine takes: template messages, a system text, the tool list, sampling options
// (request values first, the config's generating keys as defaults) and stop strings.
import { z } from 'zod';
import type { RetuneConfig } from '../../config/schema.js';
import type { Message } from '../../data/index.js';
import { pyJson } from '../../data/tools.js';
import type { SamplingOptions } from '../../model/index.js';
import { ApiError } from './errors.js';

const MAX_CHOICES = 8;
const MAX_STOPS = 4;

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const content = z.union([z.string(), z.array(textPart)]).nullable().optional();
const toolCall = z.object({
  id: z.string().optional(),
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});
const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content,
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
  name: z.string().optional(),
});
const tool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }).loose(),
});

// Keys both endpoints share. Values OpenAI allows but this engine cannot honour are refused, not ignored.
const sampling = {
  model: z.string().optional(),
  stream: z.boolean().default(false),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  top_k: z.number().int().nonnegative().nullable().optional(),
  repetition_penalty: z.number().positive().nullable().optional(),
  do_sample: z.boolean().nullable().optional(),
  max_tokens: z.number().int().positive().max(2 ** 31 - 1).nullable().optional(),
  stop: z.union([z.string(), z.array(z.string()).max(MAX_STOPS)]).nullable().optional(),
  n: z.number().int().min(1).max(MAX_CHOICES).nullable().optional(),
  seed: z.number().int().nonnegative().max(2 ** 32 - 1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional()
    .refine((v) => !v, 'presence_penalty is not supported; leave it 0 or unset (repetition_penalty is)'),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional()
    .refine((v) => !v, 'frequency_penalty is not supported; leave it 0 or unset (repetition_penalty is)'),
  logit_bias: z.record(z.string().regex(/^\d+$/, 'keys must be token ids'), z.number().min(-100).max(100)).nullable().optional(),
  logprobs: z.union([z.boolean(), z.number()]).nullable().optional().refine((v) => !v, 'logprobs are not supported'),
  user: z.string().optional(),
};

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(message).min(1, 'messages must not be empty'),
  max_completion_tokens: z.number().int().positive().max(2 ** 31 - 1).nullable().optional(),
  tools: z.array(tool).nullable().optional(),
  tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function') }).loose()]).nullable().optional()
    .refine((v) => v == null || v === 'none' || v === 'auto', 'tool_choice: only "auto" and "none" are supported'),
  response_format: z.object({ type: z.string() }).nullable().optional()
    .refine((v) => v == null || v.type === 'text', 'response_format: only {"type": "text"} is supported'),
});

export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1, 'one prompt per request')]),
  echo: z.boolean().nullable().optional().refine((v) => !v, 'echo is not supported'),
  suffix: z.string().nullable().optional().refine((v) => !v, 'suffix is not supported'),
});

export type ChatRequest = z.output<typeof chatRequest>;
export type CompletionRequest = z.output<typeof completionRequest>;
type CommonRequest = ChatRequest | CompletionRequest;

// A body checked against a schema, or a 400 naming the first offending field.
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'the request body must be a JSON object');
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue.path.map(String).join('.');
  throw new ApiError(400, param === '' ? issue.message : `${param}: ${issue.message}`, param === '' ? null : param);
}

export interface ChatPrompt {
  messages: Message[];
  system: string | null;
  tools: string | null;
}

// OpenAI messages -> the template's: an optional leading system (or developer) message, then user/tool turns and
// assistant turns alternating, ending with a user or tool turn, as LLaMA-Factory's API requires. Assistant tool_calls
// become a function turn ([{name, arguments}] with the arguments as an object).
export function toChatPrompt(req: ChatRequest): ChatPrompt {
  const list = req.messages;
  let system: string | null = null;
  let start = 0;
  if (list[0].role === 'system' || list[0].role === 'developer') {
    system = textOf(list[0].content, 0);
    start = 1;
  }
  const messages: Message[] = [];
  for (let i = start; i < list.length; i++) {
    const m = list[i];
    const userTurn = (i - start) % 2 === 0;
    if (m.role === 'system' || m.role === 'developer') throw new ApiError(400, `messages[${i}]: a ${m.role} message may only come first`, `messages.${i}.role`);
    if (userTurn && m.role === 'assistant') throw new ApiError(400, `messages[${i}]: expected a user or tool message, got assistant (turns must alternate)`, `messages.${i}.role`);
    if (!userTurn && m.role !== 'assistant') throw new ApiError(400, `messages[${i}]: expected an assistant message, got ${m.role} (turns must alternate)`, `messages.${i}.role`);
    if (m.role === 'assistant' && m.tool_calls !== undefined && m.tool_calls.length > 0) {
      messages.push({ role: 'function', content: functionContent(m.tool_calls, i) });
    } else {
      messages.push({ role: m.role === 'tool' ? 'tool' : m.role, content: textOf(m.content, i) });
    }
  }
  if (messages.length === 0 || messages.length % 2 === 0) {
    throw new ApiError(400, 'messages: the last message must be a user or tool message', 'messages');
  }
  const useTools = req.tools != null && req.tools.length > 0 && req.tool_choice !== 'none';
  return { messages, system, tools: useTools ? JSON.stringify(req.tools!.map((t) => t.function)) : null };
}

function textOf(value: string | { text: string }[] | null | undefined, i: number): string {
  if (value == null) throw new ApiError(400, `messages[${i}].content: missing`, `messages.${i}.content`);
  return typeof value === 'string' ? value : value.map((p) => p.text).join('');
}

function functionContent(calls: z.output<typeof toolCall>[], i: number): string {
  return pyJson(calls.map((c, j) => {
    try {
      return { name: c.function.name, arguments: JSON.parse(c.function.arguments) as unknown };
    } catch {
      throw new ApiError(400, `messages[${i}].tool_calls[${j}].function.arguments is not valid JSON`, `messages.${i}.tool_calls.${j}.function.arguments`);
    }
  }));
}

// Request values, else the config's generating keys; temperature 0 is greedy.
export function samplingOf(req: CommonRequest, config: RetuneConfig): SamplingOptions {
  return {
    doSample: req.do_sample ?? config.do_sample,
    temperature: req.temperature ?? config.temperature,
    topP: req.top_p ?? config.top_p,
    topK: req.top_k ?? config.top_k,
    repetitionPenalty: req.repetition_penalty ?? config.repetition_penalty,
    seed: req.seed ?? undefined,
    logitBias: new Map(Object.entries(req.logit_bias ?? {}).map(([id, bias]) => [Number(id), bias])),
  };
}

export function stopsOf(req: CommonRequest): string[] {
  if (req.stop == null) return [];
  return (typeof req.stop === 'string' ? [req.stop] : req.stop).filter((s) => s !== '');
}
