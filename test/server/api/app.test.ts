// The OpenAI-compatible server as clients see it: the official `openai` package against a server on 127.0.0.1 with
// an ephemeral port, serving the quickstart model with the `empty` template (the prompt is the user's text, so the
// story model answers with a story).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { loadConfig } from '../../../src/config/load.js';
import { InferenceEngine } from '../../../src/infer/engine.js';
import { openFromConfig } from '../../../src/infer/open.js';
import { checkExposure, createApiServer } from '../../../src/server/api/app.js';
import { UsageError } from '../../../src/util/errors.js';
import { runCli } from '../../cli/run-cli.js';

const MODEL = 'examples/models/tiny-stories';
const KEYS = [`model_name_or_path=${MODEL}`, 'template=empty', 'max_new_tokens=24'];
const PROMPT = 'Once upon a time, a little fox';
// Bans EOS (id 707), so a long request really runs long.
const NO_EOS = { logit_bias: { 707: -100 } };

async function serve(opts: { maxBatch?: number; maxQueue?: number; apiKey?: string } = {}) {
  const config = loadConfig(null, KEYS).config;
  const engine = new InferenceEngine(await openFromConfig(config), { maxBatch: opts.maxBatch, maxQueue: opts.maxQueue });
  const app = createApiServer({ engine, config, modelName: 'tiny' }, { apiKey: opts.apiKey, log: () => undefined });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const baseURL = `http://127.0.0.1:${port}/v1`;
  const client = new OpenAI({ baseURL, apiKey: opts.apiKey ?? 'unused', maxRetries: 0 });
  return { app, engine, baseURL, client };
}

type Served = Awaited<ReturnType<typeof serve>>;
const user = (content: string) => [{ role: 'user' as const, content }];

describe('retune api with the openai client', () => {
  let s: Served;
  before(async () => {
    s = await serve();
  });
  after(async () => {
    await s.app.close();
  });

  test('models, and a greedy reply equal to `retune chat --prompt` with the same config', async () => {
    const models = await s.client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
    const r = await s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), temperature: 0 });
    const cli = runCli(['chat', ...KEYS, 'do_sample=false', '--prompt', PROMPT]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.ok(r.choices[0].message.content!.length > 10, 'a real reply');
    assert.equal(r.choices[0].message.content, cli.stdout.replace(/\n$/, ''));
    assert.equal(r.choices[0].finish_reason, 'length');
    const promptTokens = s.engine.chatPrompt(user(PROMPT)).length;
    assert.deepEqual(r.usage, { prompt_tokens: promptTokens, completion_tokens: 24, total_tokens: promptTokens + 24 });
  });

  test('streamed chunks add up to the plain reply, end with a finish reason, usage and [DONE]', async () => {
    const plain = await s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), temperature: 0, max_tokens: 12 });
    const stream = await s.client.chat.completions.create({
      model: 'tiny', messages: user(PROMPT), temperature: 0, max_tokens: 12, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    const finish: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish.push(c.finish_reason);
      }
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, plain.choices[0].message.content);
    assert.ok(chunks > 4, 'the reply came in pieces');
    assert.equal(finish.at(-1), 'length');
    assert.equal(usage?.completion_tokens, 12);
    const raw = await fetch(`${s.baseURL}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: user(PROMPT), max_tokens: 3, stream: true }),
    });
    assert.match(raw.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.ok((await raw.text()).endsWith('data: [DONE]\n\n'));
  });

  test('a client that aborts mid-stream frees its slot at once, and the server keeps serving', async () => {
    const controller = new AbortController();
    const stream = await s.client.chat.completions.create(
      { model: 'tiny', messages: user(PROMPT), temperature: 0, max_tokens: 400, stream: true, ...NO_EOS }, { signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) {
        if (++chunks === 3) controller.abort();
        assert.ok(chunks <= 3 + 1, 'no chunks arrive after the abort');
      }
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIUserAbortError, String(err));
    }
    for (let i = 0; i < 50 && s.engine.scheduler.load.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(s.engine.scheduler.load, { active: 0, waiting: 0 });
    const r = await s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), max_tokens: 2 });
    assert.equal(r.usage?.completion_tokens, 2);
  });

  test('concurrent requests (batched) answer as sequential ones; n, seed, stop and /v1/completions', async () => {
    const prompts = ['Once upon a time', 'The cat', 'A little bird sang', 'One day, Leo'];
    const one = (content: string) => s.client.chat.completions.create({ model: 'tiny', messages: user(content), temperature: 0, max_tokens: 10 });
    const sequential: string[] = [];
    for (const p of prompts) sequential.push((await one(p)).choices[0].message.content!);
    const concurrent = await Promise.all(prompts.map(one));
    assert.deepEqual(concurrent.map((r) => r.choices[0].message.content), sequential);

    const sampled = { model: 'tiny', messages: user(PROMPT), temperature: 1.3, top_p: 1, top_k: 0, max_tokens: 16, n: 2, seed: 5 };
    const a = await s.client.chat.completions.create(sampled);
    const b = await s.client.chat.completions.create(sampled);
    assert.equal(a.choices.length, 2);
    assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content), 'a seed repeats');
    assert.notEqual(a.choices[0].message.content, a.choices[1].message.content, 'the n choices differ');

    const full = sequential[0];
    const word = full.trim().split(/\s+/)[2];
    const stopped = await s.client.chat.completions.create({ model: 'tiny', messages: user(prompts[0]), temperature: 0, max_tokens: 10, stop: [word] });
    assert.equal(stopped.choices[0].message.content, full.slice(0, full.indexOf(word)));
    assert.equal(stopped.choices[0].finish_reason, 'stop');

    const completion = await s.client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    const unbiased = await s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), temperature: 0, max_tokens: 60 });
    assert.equal(unbiased.choices[0].finish_reason, 'stop', 'the story ends by itself');
    const banned = await s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), temperature: 0, max_tokens: 60, ...NO_EOS });
    assert.equal(banned.choices[0].finish_reason, 'length', 'logit_bias -100 bans EOS');
    assert.ok(completion.choices[0].text.length > 0);
    assert.equal(completion.usage?.completion_tokens, 8);
    assert.equal(completion.choices[0].finish_reason, 'length');
  });

  test('tools: the tool list and earlier calls go through the template\'s tool format', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const r = await s.client.chat.completions.create({ model: 'tiny', messages: user('Weather in Paris?'), tools, temperature: 0, max_tokens: 4 });
    const { template, tokenizer } = s.engine.opened;
    const withTools = template.encodePrompt(tokenizer, user('Weather in Paris?'), null, JSON.stringify(tools.map((t) => t.function)));
    assert.ok(withTools.length > 40 && tokenizer.decode(withTools).includes('> Tool Name: get_weather'));
    assert.equal(r.usage?.prompt_tokens, withTools.length);
    const noTools = await s.client.chat.completions.create({ model: 'tiny', messages: user('Weather in Paris?'), tools, tool_choice: 'none', max_tokens: 1 });
    assert.equal(noTools.usage?.prompt_tokens, s.engine.chatPrompt(user('Weather in Paris?')).length);

    const history = [
      { role: 'user' as const, content: 'Weather in Paris?' },
      { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
      { role: 'tool' as const, tool_call_id: 'call_1', content: '{"temp": 21}' },
    ];
    const followUp = await s.client.chat.completions.create({ model: 'tiny', messages: history, tools, max_tokens: 1 });
    const expected = template.encodePrompt(tokenizer, [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'function', content: '[{"name": "get_weather", "arguments": {"city": "Paris"}}]' },
      { role: 'tool', content: '{"temp": 21}' },
    ], null, JSON.stringify(tools.map((t) => t.function)));
    assert.equal(followUp.usage?.prompt_tokens, expected.length);
    assert.ok(tokenizer.decode(expected).includes('Action: get_weather\nAction Input: {"city": "Paris"}'));
  });

  test('bad requests get OpenAI error JSON with 4xx codes, and the server keeps serving', async () => {
    const bad = async (body: Record<string, unknown>, pattern: RegExp, status = 400): Promise<void> => {
      await assert.rejects(
        s.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
        (err: unknown) => err instanceof OpenAI.APIError && err.status === status && pattern.test(err.message),
      );
    };
    await bad({ model: 'tiny', messages: [] }, /messages must not be empty/);
    await bad({ model: 'tiny', messages: [{ role: 'robot', content: 'hi' }] }, /messages\.0\.role/);
    await bad({ model: 'tiny', messages: 'hi' }, /messages/);
    await bad({ model: 'tiny', messages: user('hi'), temperature: 'hot' }, /temperature/);
    await bad({ model: 'tiny', messages: user('hi'), max_tokens: 10 ** 9 }, /1000000000 new tokens .* context is 512 tokens/);
    await bad({ model: 'tiny', messages: user('hi'), presence_penalty: 0.5 }, /presence_penalty is not supported/);
    await bad({ model: 'tiny', messages: user('hi'), logit_bias: { 99999: 1 } }, /logit_bias: 99999 is not a token id/);
    await bad({ model: 'tiny', messages: [...user('a'), ...user('b')] }, /messages\[1\]: expected an assistant message/);
    await bad({ model: 'tiny', messages: user('hi'), tool_choice: 'required', tools: [] }, /tool_choice/);
    const longPrompt = 'fox '.repeat(600);
    await bad({ model: 'tiny', messages: user(longPrompt) }, /the prompt is \d+ tokens, the model's context is 512 tokens/);

    const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(`${s.baseURL}/chat/completions`, { method: 'POST', headers, body });
    for (const [body, status] of [['{"messages": [', 400], ['', 400], ['[1, 2]', 400], ['null', 400]] as const) {
      const res = await post(body);
      assert.equal(res.status, status, body);
      const json = (await res.json()) as { error: { message: string; type: string } };
      assert.equal(json.error.type, 'invalid_request_error');
      assert.ok(json.error.message.length > 0);
    }
    const notFound = await fetch(`${s.baseURL}/engines`);
    assert.equal(notFound.status, 404);
    assert.equal(((await notFound.json()) as { error: { type: string } }).error.type, 'not_found_error');
    const ok = await s.client.chat.completions.create({ model: 'tiny', messages: user('hi'), max_tokens: 1 });
    assert.equal(ok.choices.length, 1);
  });
});

test('a full queue answers 429; a key is required when set', async () => {
  const s = await serve({ maxBatch: 1, maxQueue: 0, apiKey: 'sesame' });
  try {
    const controller = new AbortController();
    const long = await s.client.chat.completions.create(
      { model: 'tiny', messages: user(PROMPT), max_tokens: 400, stream: true, ...NO_EOS }, { signal: controller.signal },
    );
    const iterator = long[Symbol.asyncIterator]();
    await iterator.next();
    await assert.rejects(
      s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), max_tokens: 2 }),
      (err: unknown) => err instanceof OpenAI.RateLimitError && /busy/.test(err.message),
    );
    controller.abort();
    await iterator.next().catch(() => undefined);
    const wrongKey = new OpenAI({ baseURL: s.baseURL, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(wrongKey.models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
    for (let i = 0; i < 50 && s.engine.scheduler.load.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    const r = await s.client.chat.completions.create({ model: 'tiny', messages: user(PROMPT), max_tokens: 2 });
    assert.equal(r.usage?.completion_tokens, 2);
  } finally {
    await s.app.close();
  }
});

test('a host beyond loopback without API_KEY refuses to start, saying how to set one', () => {
  assert.throws(() => checkExposure('0.0.0.0', null), (err: unknown) => err instanceof UsageError && /set one \(e\.g\. API_KEY=/.test(err.message));
  assert.doesNotThrow(() => checkExposure('0.0.0.0', 'k'));
  assert.doesNotThrow(() => checkExposure('127.0.0.1', null));
  const cli = runCli(['api', ...KEYS], { env: { API_HOST: '0.0.0.0', API_KEY: '' } });
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /API_HOST=0\.0\.0\.0 .* no API_KEY is set/);
});
