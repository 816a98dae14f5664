import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Template as JinjaTemplate } from '@huggingface/jinja';
import { UsageError } from '../../src/util/errors.js';
import { getTemplate, Template, templateNames, type Message } from '../../src/data/template.js';
import { templateToJinja } from '../../src/data/template-jinja.js';
import { parseTemplate } from '../../src/data/template-resolve.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { qwen3 } from './helpers.js';

// A tokenizer with one id per character and ids above Unicode for the special tokens: the Template's ids turn back
// into its exact text without decoding through a vocabulary, so the Jinja output can be compared character for
// character with what training feeds the model.
const FIRST_SPECIAL = 0x110000;

class CharTokenizer {
  readonly specials: string[];
  bosToken: string | null;
  eosToken: string;
  bosId: number | null;
  eosId: number;
  padId = null;
  chatTemplate = null;

  constructor(opts: { bos: string | null; eos: string; extra?: string[] }) {
    this.specials = [...(opts.bos === null ? [] : [opts.bos]), opts.eos, ...(opts.extra ?? [])];
    this.bosToken = opts.bos;
    this.eosToken = opts.eos;
    this.bosId = opts.bos === null ? null : FIRST_SPECIAL;
    this.eosId = FIRST_SPECIAL + this.specials.indexOf(opts.eos);
  }

  encode(text: string): number[] {
    return Array.from(text, (ch) => ch.codePointAt(0) as number);
  }

  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => (id >= FIRST_SPECIAL ? this.specials[id - FIRST_SPECIAL] : String.fromCodePoint(id))).join('');
  }

  tokenToId(token: string): number | undefined {
    const at = this.specials.indexOf(token);
    return at < 0 ? undefined : FIRST_SPECIAL + at;
  }
}

function charTokenizer(opts: { bos: string | null; eos: string; extra?: string[] }): Tokenizer {
  return new CharTokenizer(opts) as unknown as Tokenizer;
}

function render(jinja: string, tok: Tokenizer, messages: { role: string; content: string }[], addGenerationPrompt: boolean): string {
  return new JinjaTemplate(jinja).render({
    messages,
    add_generation_prompt: addGenerationPrompt,
    bos_token: tok.bosToken ?? '',
    eos_token: tok.eosToken ?? '',
  });
}

const withSystem = (system: string | undefined, messages: Message[]) =>
  system === undefined ? messages : [{ role: 'system', content: system }, ...messages];

// What training sees for a whole conversation, and what generation is prompted with, as text.
function trainingText(template: Template, tok: Tokenizer, messages: Message[], system?: string): string {
  return tok.decode(template.encodeMultiturn(tok, messages, system).flat(2));
}

function promptText(template: Template, tok: Tokenizer, messages: Message[], system?: string): string {
  return tok.decode(template.encodePrompt(tok, messages, system));
}

const Q1 = "What's 1 + 1?\nAnswer \\briefly\\.";
const A1 = 'It is {{ 2 }}.';
const Q2 = 'And 2 + 2?';
const A2 = '4, "of course".';
const ONE: Message[] = [{ role: 'user', content: Q1 }, { role: 'assistant', content: A1 }];
const TWO: Message[] = [...ONE, { role: 'user', content: Q2 }, { role: 'assistant', content: A2 }];
// Reasoning templates keep an answer's thought as written; the Jinja (like LLaMA-Factory's) renders answers verbatim.
const thought = (m: Message): Message => (m.role === 'assistant' ? { ...m, content: `<think>\nhmm\n</think>\n\n${m.content}` } : m);

function checkTemplate(name: string, tok: Tokenizer): void {
  const template = getTemplate(name);
  const jinja = templateToJinja(template, tok);
  assert.ok(jinja !== null, `${name}: has a Jinja form`);
  const full = template.kind === 'reasoning' ? TWO.map(thought) : TWO;
  for (const system of [undefined, "SYS 'quoted' \\ system\nline"]) {
    const label = `${name}, system ${system === undefined ? 'none' : 'given'}`;
    for (const messages of [full.slice(0, 2), full]) {
      assert.equal(render(jinja, tok, withSystem(system, messages), false), trainingText(template, tok, messages, system), `${label}, ${messages.length} messages`);
    }
    // A conversation ending in a user turn: the generation prompt, with or without add_generation_prompt.
    for (const messages of [TWO.slice(0, 1), TWO.slice(0, 3)]) {
      const expected = promptText(template, tok, messages, system);
      assert.equal(render(jinja, tok, withSystem(system, messages), true), expected, `${label}, prompt after ${messages.length}`);
      assert.equal(render(jinja, tok, withSystem(system, messages), false), expected, `${label}, open turn after ${messages.length}`);
    }
  }
}

test('every registry template: the Jinja renders the training text and the generation prompt of the Template', () => {
  const tok = charTokenizer({ bos: '<s>', eos: '</s>' });
  for (const name of templateNames()) checkTemplate(name, tok);
});

test('a tokenizer without BOS: BOS slots render as nothing, as Template.encode leaves them out', () => {
  const tok = charTokenizer({ bos: null, eos: '<|im_end|>' });
  for (const name of ['llama2', 'llama3', 'mistral', 'gemma', 'gemma2', 'default', 'zephyr']) checkTemplate(name, tok);
  const llama3 = templateToJinja(getTemplate('llama3'), tok) as string;
  assert.ok(!llama3.includes('<s>'));
});

test('BOS/EOS become the token text of the run tokenizer (a replaced EOS included); default systems are escaped', () => {
  const tok = charTokenizer({ bos: '<|begin_of_text|>', eos: '<|eot_id|>' });
  const jinja = templateToJinja(getTemplate('llama3'), tok) as string;
  assert.ok(jinja.startsWith("{{ '<|begin_of_text|>' }}"), jinja);
  const rendered = render(jinja, tok, [{ role: 'user', content: 'hi' }], true);
  assert.equal(rendered, '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  const zh = getTemplate('llama2_zh');
  assert.equal(render(templateToJinja(zh, tok) as string, tok, [{ role: 'user', content: 'Q' }], true), promptText(zh, tok, [{ role: 'user', content: 'Q' }]));
  const custom = getTemplate('vicuna', { defaultSystem: "It's a \\ test\n" });
  assert.equal(render(templateToJinja(custom, tok) as string, tok, [{ role: 'user', content: 'Q' }], true), "It's a \\ test\nUSER: Q ASSISTANT:");
});

test('token slots, {{idx}} and a repeated placeholder follow Template’s slot filling', () => {
  const tok = charTokenizer({ bos: '<s>', eos: '</s>', extra: ['<sep>'] });
  const template = new Template('custom', {
    user: ['[Round {{idx}}] {{content}} ({{content}})', { token: '<sep>' }],
    assistant: ['{{content}}', { special: 'eos' }],
    system: ['<<{{content}}>>'],
    prefix: [{ special: 'bos' }],
  });
  const jinja = templateToJinja(template, tok) as string;
  assert.equal(render(jinja, tok, withSystem('S', TWO), false), trainingText(template, tok, TWO, 'S'));
  assert.ok(trainingText(template, tok, TWO).includes('[Round 1] And 2 + 2? ({{content}})<sep>'));
  const missing = new Template('broken', { user: ['{{content}}', { token: '<nope>' }] });
  assert.throws(() => templateToJinja(missing, tok), (e: Error) => e instanceof UsageError && /template broken needs the token <nope>/.test(e.message));
});

test('reasoning renders as plain (LLaMA-Factory): thought-less answers get no empty thought in the Jinja', () => {
  const tok = charTokenizer({ bos: null, eos: '<|im_end|>' });
  const qwen3Template = getTemplate('qwen3');
  const jinja = templateToJinja(qwen3Template, tok) as string;
  assert.equal(jinja, templateToJinja(getTemplate('qwen3_nothink'), tok));
  assert.equal(render(jinja, tok, ONE, false), trainingText(getTemplate('qwen3_nothink'), tok, ONE));
  assert.notEqual(render(jinja, tok, ONE, false), trainingText(qwen3Template, tok, ONE));
});

test('llama2 kinds with a system slot that is not text have no Jinja form', () => {
  const tok = charTokenizer({ bos: '<s>', eos: '</s>' });
  const fused = new Template('odd', { user: ['[INST] {{content}} [/INST]'], system: [{ special: 'bos' }, '{{content}}'], kind: 'llama2' });
  assert.equal(templateToJinja(fused, tok), null);
});

test('with a real tokenizer: the Jinja output encodes to the training ids and parses back to the same slots', async () => {
  const tok = await qwen3();
  for (const name of ['qwen', 'chatml']) {
    const template = getTemplate(name);
    template.fixTokenizer(tok);
    const jinja = templateToJinja(template, tok) as string;
    const text = render(jinja, tok, withSystem('Be brief.', TWO), false);
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), template.encodeMultiturn(tok, TWO, 'Be brief.').flat(2), name);
    // LLaMA-Factory reads a template back from a chat_template (no template configured): the same slots come out.
    const withJinja = Object.assign(tok.clone(), { chatTemplate: jinja }) as Tokenizer;
    const parsed = parseTemplate(withJinja);
    assert.deepEqual([parsed.user, parsed.assistant, parsed.system, parsed.defaultSystem], [template.user, template.assistant, template.system, template.defaultSystem], name);
  }
});
