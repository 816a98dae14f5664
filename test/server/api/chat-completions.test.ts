// Tool calls end to end: the chat fixture model with a LoRA adapter that `retune train` taught to answer the weather
// question with a get_weather call and the call's result with a sentence (test/fixtures/tools/make-adapter.sh), served
// by `retune api` and asked through the official openai client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type OpenAI from 'openai';
import { serveApi, type ServedApi } from '../../cli/serve-api.js';

const ARGS = ['model_name_or_path=test/fixtures/cli/chat-model', 'adapter_name_or_path=test/fixtures/tools/adapter', 'template=chatml'];
const TOOLS: OpenAI.ChatCompletionTool[] = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
  },
}];
const QUESTION: OpenAI.ChatCompletionMessageParam = { role: 'user', content: 'What is the weather in Paris?' };
const GREEDY = { model: 'retune', temperature: 0, max_tokens: 48 };

describe('tool calls through retune api and the openai client', () => {
  let api: ServedApi;
  before(async () => {
    api = await serveApi(ARGS);
  });
  after(async () => {
    assert.equal(await api.stop(), 0);
  });

  test('the model calls get_weather: finish_reason tool_calls with the parsed name and JSON arguments', async () => {
    const r = await api.client.chat.completions.create({ ...GREEDY, messages: [QUESTION], tools: TOOLS });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const calls = choice.message.tool_calls ?? [];
    assert.equal(calls.length, 1);
    const call = calls[0];
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_[0-9a-f]{32}$/);
    assert.ok(call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    // tool_choice none: no tool list in the prompt, and the reply is text, never parsed as a call.
    const plain = await api.client.chat.completions.create({ ...GREEDY, messages: [QUESTION], tools: TOOLS, tool_choice: 'none' });
    assert.equal(plain.choices[0].message.tool_calls, undefined);
    assert.equal(typeof plain.choices[0].message.content, 'string');
    assert.notEqual(plain.choices[0].finish_reason, 'tool_calls');
  });

  test('streamed: one tool_calls delta with index, id, name and arguments, then finish_reason tool_calls', async () => {
    const stream = await api.client.chat.completions.create({ ...GREEDY, messages: [QUESTION], tools: TOOLS, stream: true });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let content = '';
    const finish: string[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        deltas.push(...(c.delta.tool_calls ?? []));
        content += c.delta.content ?? '';
        if (c.finish_reason !== null) finish.push(c.finish_reason);
      }
    }
    assert.deepEqual(finish, ['tool_calls']);
    assert.equal(content, '');
    assert.equal(deltas.length, 1);
    assert.equal(deltas[0].index, 0);
    assert.match(deltas[0].id ?? '', /^call_[0-9a-f]{32}$/);
    assert.equal(deltas[0].type, 'function');
    assert.equal(deltas[0].function?.name, 'get_weather');
    assert.deepEqual(JSON.parse(deltas[0].function?.arguments ?? ''), { city: 'Paris' });
  });

  test('the tool\'s result sent back as a tool message gives the assistant\'s answer, plain and streamed', async () => {
    const first = await api.client.chat.completions.create({ ...GREEDY, messages: [QUESTION], tools: TOOLS });
    const call = first.choices[0].message.tool_calls![0];
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      QUESTION,
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21, "sky": "sunny"}' },
    ];
    const answer = await api.client.chat.completions.create({ ...GREEDY, messages, tools: TOOLS });
    assert.equal(answer.choices[0].finish_reason, 'stop');
    assert.equal(answer.choices[0].message.content, 'It is sunny and 21 degrees in Paris.');
    assert.equal(answer.choices[0].message.tool_calls, undefined);
    const stream = await api.client.chat.completions.create({ ...GREEDY, messages, tools: TOOLS, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'It is sunny and 21 degrees in Paris.');
  });
});
