import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Example } from '../../src/data/converter.js';
import { IGNORE_INDEX, encodeFeedback, encodePairwise, encodePretrainText, encodeSupervised, inferSeqlen, pretrainRows, type ProcessOptions } from '../../src/data/processors.js';
import { getTemplate, type Message } from '../../src/data/template.js';
import { ids, llama2, qwen3 } from './helpers.js';

const OPTS: ProcessOptions = { cutoffLen: 1024, trainOnPrompt: false, maskHistory: false, packing: false, templateName: 'qwen', batchSize: 1000 };

function example(turns: [string, string][], system = ''): Example {
  const messages: Message[] = turns.flatMap(([q, a]) => [
    { role: 'user' as const, content: q },
    { role: 'assistant' as const, content: a },
  ]);
  return { prompt: messages.slice(0, -1), response: messages.slice(-1), system, tools: '', ktoTag: null, where: 'test' };
}

const labelled = (labels: Int32Array): number[] => [...labels].filter((l) => l !== IGNORE_INDEX);

test('infer_seqlen splits the budget between prompt and answer as LLaMA-Factory does', () => {
  assert.deepEqual(inferSeqlen(10, 10, 30), [10, 10]);
  assert.deepEqual(inferSeqlen(100, 10, 50), [40, 10]); // short answer kept whole
  assert.deepEqual(inferSeqlen(10, 100, 50), [10, 40]); // short prompt kept whole
  assert.deepEqual(inferSeqlen(100, 100, 50), [25, 25]); // both shrink in proportion
  assert.deepEqual(inferSeqlen(30, 90, 41), [11, 30]);
});

test('sft multi-turn: prompts are -100, every answer is labelled, Chinese text intact', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen');
  template.fixTokenizer(tok);
  const row = encodeSupervised(example([['Hi', 'Hello.'], ['你是谁？', '我是助手。']], 'Be terse.'), template, tok, OPTS);
  const p1 = ids(tok, '<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  const r1 = ids(tok, 'Hello.<|im_end|>\n');
  const p2 = ids(tok, '<|im_start|>user\n你是谁？<|im_end|>\n<|im_start|>assistant\n');
  const r2 = ids(tok, '我是助手。<|im_end|>\n');
  assert.deepEqual([...row.inputIds], [...p1, ...r1, ...p2, ...r2]);
  const ignore = (n: number): number[] => new Array(n).fill(IGNORE_INDEX);
  assert.deepEqual([...row.labels], [...ignore(p1.length), ...r1, ...ignore(p2.length), ...r2]);
});

test('train_on_prompt labels everything; mask_history labels only the last answer', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen');
  template.fixTokenizer(tok);
  const ex = example([['Q1', 'A1'], ['Q2', 'A2']]);
  const all = encodeSupervised(ex, template, tok, { ...OPTS, trainOnPrompt: true });
  assert.deepEqual([...all.labels], [...all.inputIds]);
  const masked = encodeSupervised(ex, template, tok, { ...OPTS, maskHistory: true });
  const plain = encodeSupervised(ex, template, tok, OPTS);
  assert.deepEqual([...masked.inputIds], [...plain.inputIds]);
  assert.deepEqual(labelled(masked.labels), ids(tok, 'A2<|im_end|>\n'));
});

test('an over-long sample is cut by infer_seqlen turn by turn, within cutoff_len', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen3_nothink');
  template.fixTokenizer(tok);
  const long = 'word '.repeat(200);
  const ex = example([[long, long], ['short question', long]]);
  const cutoffLen = 100;
  const row = encodeSupervised(ex, template, tok, { ...OPTS, cutoffLen });
  const pairs = template.encodeMultiturn(tok, [...ex.prompt, ...ex.response]);
  const [s0, t0] = inferSeqlen(pairs[0][0].length, pairs[0][1].length, cutoffLen);
  assert.equal(row.inputIds.length, s0 + t0);
  assert.ok(row.inputIds.length <= cutoffLen);
  assert.deepEqual([...row.inputIds], [...pairs[0][0].slice(0, s0), ...pairs[0][1].slice(0, t0)]);
  // mask_history spends the budget on the last turn first
  const masked = encodeSupervised(ex, template, tok, { ...OPTS, cutoffLen, maskHistory: true });
  const [s1, t1] = inferSeqlen(pairs[1][0].length, pairs[1][1].length, cutoffLen);
  assert.deepEqual([...masked.inputIds.slice(0, s1 + t1)], [...pairs[1][0].slice(0, s1), ...pairs[1][1].slice(0, t1)]);
  assert.ok(masked.inputIds.length <= cutoffLen);
});

test('efficient-EOS templates label the next prompt’s first token as EOS and append a final EOS', async () => {
  const tok = await qwen3();
  const template = getTemplate('gemma2');
  const row = encodeSupervised(example([['Q1', 'A1'], ['Q2', 'A2']]), template, tok, OPTS);
  const pairs = template.encodeMultiturn(tok, [...example([['Q1', 'A1'], ['Q2', 'A2']]).prompt, { role: 'assistant', content: 'A2' }]);
  const eos = tok.eosId as number;
  const secondPromptStart = pairs[0][0].length + pairs[0][1].length;
  assert.equal(row.labels[secondPromptStart], eos);
  assert.equal(row.inputIds[row.inputIds.length - 1], eos);
  assert.equal(row.labels[row.labels.length - 1], eos);
  assert.equal(row.inputIds.length, secondPromptStart + pairs[1][0].length + pairs[1][1].length + 1);
});

test('pairwise: chosen and rejected share the prompt and one truncation', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen');
  template.fixTokenizer(tok);
  const ex: Example = { ...example([['Pick a fruit.', '']]), response: [{ role: 'assistant', content: 'An apple.' }, { role: 'assistant', content: 'A rock, which is not a fruit.' }] };
  const row = encodePairwise(ex, template, tok, OPTS);
  const [prompt] = template.encodeOneturn(tok, [...ex.prompt, ex.response[0]]);
  assert.deepEqual([...row.inputIds.slice(0, prompt.length)], prompt);
  assert.deepEqual([...(row.rejectedIds as Int32Array).slice(0, prompt.length)], prompt);
  assert.equal(tok.decode(labelled(row.labels)), 'An apple.<|im_end|>\n');
  assert.equal(tok.decode(labelled(row.rejectedLabels as Int32Array)), 'A rock, which is not a fruit.<|im_end|>\n');
  const cut = encodePairwise(ex, template, tok, { ...OPTS, cutoffLen: 12 });
  const [s, t] = inferSeqlen(prompt.length, Math.max(ids(tok, 'An apple.<|im_end|>\n').length, ids(tok, 'A rock, which is not a fruit.<|im_end|>\n').length), 12);
  assert.equal(cut.inputIds.length, s + Math.min(t, ids(tok, 'An apple.<|im_end|>\n').length));
  assert.equal((cut.rejectedIds as Int32Array).length, s + t);
});

test('kto: the tag is kept and the KL pair joins this prompt with another example’s answer', async () => {
  const tok = await qwen3();
  const template = getTemplate('qwen');
  template.fixTokenizer(tok);
  const a = { ...example([['Hi', 'Hello!']]), ktoTag: true };
  const b = { ...example([['2+2?', '5']]), ktoTag: false };
  const row = encodeFeedback(b, a, template, tok, OPTS);
  assert.equal(row.ktoTag, false);
  assert.equal(tok.decode(labelled(row.labels)), '5<|im_end|>\n');
  const kl = tok.decode(row.klIds as Int32Array);
  assert.ok(kl.includes('2+2?') && kl.endsWith('Hello!<|im_end|>\n'));
});

test('pt: texts + EOS concatenated into full cutoff_len blocks; BOS replaces each block’s first id for Llama', async () => {
  const tok = await llama2();
  const texts = ['The quick brown fox.', 'Jumps over the lazy dog.', '一只狐狸。'];
  const examples = texts.map((t) => ({ ...example([[t, '']]), response: [] }));
  const opts = { ...OPTS, cutoffLen: 8, packing: true, templateName: 'default' };
  const rows = pretrainRows(examples.map((e) => encodePretrainText(e, tok, opts)), tok, opts);
  const all = texts.flatMap((t) => ids(tok, t + '</s>'));
  assert.equal(rows.length, Math.floor(all.length / 8));
  rows.forEach((row, b) => {
    assert.deepEqual([...row.inputIds], [tok.bosId as number, ...all.slice(b * 8 + 1, (b + 1) * 8)]);
    assert.deepEqual([...row.labels], [...row.inputIds]);
  });
  const unpacked = { ...opts, packing: false, cutoffLen: 64 };
  const single = pretrainRows(examples.map((e) => encodePretrainText(e, tok, unpacked)), tok, unpacked);
  assert.deepEqual([...single[0].inputIds], ids(tok, '<s>The quick brown fox.</s>'));
  const cut = encodePretrainText(examples[0], tok, { ...unpacked, cutoffLen: 3 });
  assert.deepEqual([...cut], ids(tok, '<s>The quick brown fox.</s>').slice(0, 3));
});
