import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { UsageError } from '../../src/util/errors.js';
import { getTemplate, templateNames, type Message } from '../../src/data/template.js';
import { parseTemplate, resolveTemplate } from '../../src/data/template-resolve.js';
import { golden, llama2, qwen3 } from './helpers.js';

const flat = (pairs: [number[], number[]][]): number[] => pairs.flatMap(([p, r]) => [...p, ...r]);

test('qwen3 one turn with a system prompt equals transformers apply_chat_template', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen3');
  template.fixTokenizer(tok);
  const g = golden().qwen3.oneturn;
  const [system, ...messages] = g.messages as { role: string; content: string }[];
  const [prompt, response] = template.encodeOneturn(tok, messages as Message[], system.content);
  assert.deepEqual([...prompt, ...response], g.full.ids);
  assert.deepEqual(prompt, g.prompt.ids);
  assert.equal(tok.decode(response), '<think>\n\n</think>\n\n巴黎。<|im_end|>\n');
});

test('qwen3 with enable_thinking=false: generation prompt equals transformers with enable_thinking=False', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen3', { enableThinking: false });
  template.fixTokenizer(tok);
  const g = golden().qwen3.multiturn_nothink_prompt;
  assert.deepEqual(template.encodePrompt(tok, g.messages), g.prompt.ids);
});

test('qwen3 tools, function call and tool response equal transformers apply_chat_template', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen3');
  template.fixTokenizer(tok);
  const g = golden().qwen3.tools;
  const messages: Message[] = [
    { role: 'user', content: "What's the weather in Paris?" },
    { role: 'function', content: JSON.stringify({ name: 'get_weather', arguments: { city: 'Paris' } }) },
    { role: 'observation', content: '{"temperature": 21, "sky": "晴"}' },
    { role: 'assistant', content: 'It is 21 degrees and sunny in Paris.' },
  ];
  const [prompt, response] = template.encodeOneturn(tok, messages, g.system, JSON.stringify(g.tools));
  assert.deepEqual([...prompt, ...response], g.full.ids);
});

test('llama2 template with the Llama-2 tokenizer: system fused into the first [INST], BOS per turn', async () => {
  const tok = await llama2();
  const template = getTemplate('llama2');
  template.fixTokenizer(tok);
  const g = golden().llama2_template;
  const messages: Message[] = (g.pairs as [string, string][]).flatMap(([q, a]) => [
    { role: 'user' as const, content: q },
    { role: 'assistant' as const, content: a },
  ]);
  assert.deepEqual(template.encodeMultiturn(tok, messages, g.system), g.expected);
  assert.equal(tok.padId, tok.eosId, 'a missing pad token becomes EOS');
});

// Each registered format, rendered as text: (system "SYS") Q1 -> A1, Q2 -> A2. The qwen3 tokenizer has no BOS, so
// BOS slots render as nothing, and its EOS is <|im_end|>.
const RENDERS: Record<string, [string, string, string, string]> = {
  empty: ['SYSQ1', 'A1', 'Q2', 'A2'],
  default: ['System: SYS<|im_end|>\nHuman: Q1<|im_end|>\nAssistant:', 'A1<|im_end|>\n', 'Human: Q2<|im_end|>\nAssistant:', 'A2<|im_end|>\n'],
  alpaca: ['SYS### Instruction:\nQ1\n\n### Response:\n', 'A1<|im_end|>\n\n', '### Instruction:\nQ2\n\n### Response:\n', 'A2<|im_end|>\n\n'],
  vicuna: ['SYSUSER: Q1 ASSISTANT:', 'A1<|im_end|>', 'USER: Q2 ASSISTANT:', 'A2<|im_end|>'],
  chatml: [
    '<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n',
    'A1<|im_end|>\n',
    '<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n',
    'A2<|im_end|>\n',
  ],
  llama2: ['[INST] <<SYS>>\nSYS\n<</SYS>>\n\nQ1 [/INST]', 'A1<|im_end|>', '[INST] Q2 [/INST]', 'A2<|im_end|>'],
  llama3: [
    '<|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nQ1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    'A1<|eot_id|>',
    '<|start_header_id|>user<|end_header_id|>\n\nQ2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    'A2<|eot_id|>',
  ],
  mistral: ['[INST] SYS\n\nQ1[/INST]', ' A1<|im_end|>', '[INST] Q2[/INST]', ' A2<|im_end|>'],
  qwen: [
    '<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n',
    'A1<|im_end|>\n',
    '<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n',
    'A2<|im_end|>\n',
  ],
  qwen3: [
    '<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n',
    '<think>\n\n</think>\n\nA1<|im_end|>\n',
    '<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n',
    '<think>\n\n</think>\n\nA2<|im_end|>\n',
  ],
  qwen3_nothink: [
    '<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n',
    'A1<|im_end|>\n',
    '<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n',
    'A2<|im_end|>\n',
  ],
  gemma: [
    '<start_of_turn>user\nSYS\n\nQ1<end_of_turn>\n<start_of_turn>model\n',
    'A1<end_of_turn>\n',
    '<start_of_turn>user\nQ2<end_of_turn>\n<start_of_turn>model\n',
    'A2<end_of_turn>\n',
  ],
  phi: ['<|system|>\nSYS<|end|>\n<|user|>\nQ1<|end|>\n<|assistant|>\n', 'A1<|end|>\n', '<|user|>\nQ2<|end|>\n<|assistant|>\n', 'A2<|end|>\n'],
};

const TWO_TURNS: Message[] = [
  { role: 'user', content: 'Q1' },
  { role: 'assistant', content: 'A1' },
  { role: 'user', content: 'Q2' },
  { role: 'assistant', content: 'A2' },
];

test('every required template renders LLaMA-Factory’s exact format', async () => {
  const tok = await qwen3();
  for (const [name, expected] of Object.entries(RENDERS)) {
    const pairs = getTemplate(name).encodeMultiturn(tok, TWO_TURNS, 'SYS');
    assert.deepEqual(pairs.flat().map((ids) => tok.decode(ids)), expected, name);
  }
  for (const name of Object.keys(RENDERS)) assert.ok(templateNames().includes(name));
});

test('default system prompts apply when the sample has none, and default_system overrides them', async () => {
  const tok = await qwen3();
  const [prompt] = getTemplate('qwen').encodeMultiturn(tok, TWO_TURNS.slice(0, 2))[0];
  assert.ok(tok.decode(prompt).startsWith('<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n'));
  const [vicuna] = getTemplate('vicuna', { defaultSystem: 'Be nice. ' }).encodeMultiturn(tok, TWO_TURNS.slice(0, 2))[0];
  assert.equal(tok.decode(vicuna), 'Be nice. USER: Q1 ASSISTANT:');
});

test('replace_eos makes the first stop word the EOS; stop ids include every known stop word', async () => {
  const tok = await qwen3();
  const chatml = getTemplate('chatml');
  chatml.fixTokenizer(tok);
  assert.equal(tok.eosToken, '<|im_end|>');
  assert.deepEqual(chatml.stopTokenIds(tok).sort(), [151644, 151645]);
});

test('fix_special_tokens adds the EOS and stop words the tokenizer lacks, as LLaMA-Factory does', async () => {
  const tok = await qwen3();
  const size = tok.size;
  getTemplate('llama3').fixTokenizer(tok);
  assert.equal(tok.eosToken, '<|eot_id|>');
  assert.equal(tok.eosId, size);
  assert.deepEqual(tok.added, [{ id: size, content: '<|eot_id|>', special: true }, { id: size + 1, content: '<|eom_id|>', special: true }]);
  assert.equal(tok.size, size + 2);
  assert.deepEqual(tok.encode('hi<|eom_id|>', { addSpecialTokens: false }).at(-1), size + 1);
  assert.equal(tok.decode([size, size + 1], { skipSpecialTokens: true }), '');
  const l = await llama2();
  getTemplate('qwen').fixTokenizer(l);
  assert.equal(l.eosId, l.tokenToId('<|im_end|>'));
});

test('reasoning: an existing thought is kept; without thinking, thoughts are removed and an empty one goes in the prompt', async () => {
  const tok = await qwen3();
  const withThought: Message[] = [
    { role: 'user', content: 'Q' },
    { role: 'assistant', content: '<think>\nreason\n</think>\n\nA' },
  ];
  const [[, kept]] = getTemplate('qwen3').encodeMultiturn(tok, withThought);
  assert.equal(tok.decode(kept), '<think>\nreason\n</think>\n\nA<|im_end|>\n');
  const [[prompt, response]] = getTemplate('qwen3', { enableThinking: false }).encodeMultiturn(tok, withThought);
  assert.ok(tok.decode(prompt).endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
  assert.equal(tok.decode(response), 'A<|im_end|>\n');
  // enable_thinking null: thoughts stay as written, a missing one is added to the prompt
  const neutral = getTemplate('qwen3', { enableThinking: null });
  assert.equal(tok.decode(neutral.encodeMultiturn(tok, withThought)[0][1]), '<think>\nreason\n</think>\n\nA<|im_end|>\n');
  const [[plainPrompt, plainResponse]] = neutral.encodeMultiturn(tok, TWO_TURNS.slice(0, 2));
  assert.ok(tok.decode(plainPrompt).endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
  assert.equal(tok.decode(plainResponse), 'A1<|im_end|>\n');
});

test('default tool format: tool list in the system turn, function calls as Action / Action Input', async () => {
  const tok = await qwen3();
  const tools = JSON.stringify([
    { name: 'add', description: 'Add numbers', parameters: { type: 'object', properties: { a: { type: 'number', description: 'first' }, b: { type: 'number', description: 'second', enum: ['1', '2'] } }, required: ['a'] } },
  ]);
  const messages: Message[] = [
    { role: 'user', content: 'add 1 and 2' },
    { role: 'function', content: '{"name": "add", "arguments": {"a": 1, "b": 2}}' },
  ];
  const [[prompt, response]] = getTemplate('empty').encodeMultiturn(tok, messages, '', tools);
  assert.equal(
    tok.decode(prompt),
    'You have access to the following tools:\n> Tool Name: add\nTool Description: Add numbers\nTool Args:\n' +
      '  - a (number, required): first\n  - b (number): second, should be one of [1, 2]\n\n' +
      'Use the following format if using a tool:\n```\nAction: tool name (one of [add])\n' +
      'Action Input: the input to the tool, in a JSON format representing the kwargs (e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n' +
      'add 1 and 2',
  );
  assert.equal(tok.decode(response), 'Action: add\nAction Input: {"a": 1, "b": 2}');
  assert.throws(() => getTemplate('empty').encodeMultiturn(tok, [messages[0], { role: 'function', content: 'not json' }]), UsageError);
});

test('without a configured template the tokenizer’s own chat_template is parsed into slots', async () => {
  const tok = await qwen3();
  const parsed = parseTemplate(tok);
  assert.equal(parsed.kind, 'reasoning');
  assert.deepEqual(parsed.user, ['<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n']);
  assert.deepEqual(parsed.assistant, ['{{content}}<|im_end|>\n']);
  assert.deepEqual(parsed.system, ['<|im_start|>system\n{{content}}<|im_end|>\n']);
  assert.equal(parsed.defaultSystem, '');
  const resolved = resolveTemplate(configSchema.parse({}), tok);
  assert.deepEqual(flat(resolved.encodeMultiturn(tok, TWO_TURNS, 'SYS')), flat(getTemplate('qwen3').encodeMultiturn(tok, TWO_TURNS, 'SYS')));
  const l = await llama2();
  assert.equal(resolveTemplate(configSchema.parse({}), l).name, 'empty');
});

test('unknown template names and train_on_prompt with efficient EOS are usage errors', async () => {
  assert.throws(() => getTemplate('nope'), (e: Error) => e instanceof UsageError && e.message.includes('qwen3'));
  const tok = await qwen3();
  assert.throws(() => resolveTemplate(configSchema.parse({ template: 'gemma2', train_on_prompt: true }), tok), /train_on_prompt/);
});
