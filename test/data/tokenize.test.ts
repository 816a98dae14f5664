import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import type { DataStage, Example } from '../../src/data/converter.js';
import type { TokenizedRow } from '../../src/data/dataset-store.js';
import { getTemplate } from '../../src/data/template.js';
import { tokenizeExamples } from '../../src/data/tokenize.js';
import { llama2 } from './helpers.js';

function examples(n: number): Example[] {
  return Array.from({ length: n }, (_, i) => ({
    prompt: [
      { role: 'user' as const, content: `question ${i} ${'about things '.repeat(i % 7)}` },
      { role: 'assistant' as const, content: `earlier answer ${i}` },
      { role: 'user' as const, content: `follow-up 问题 ${i}` },
    ],
    response: [{ role: 'assistant' as const, content: `final answer ${i} ${'and more '.repeat(i % 5)}` }],
    system: i % 3 === 0 ? 'Be brief.' : '',
    tools: '',
    ktoTag: i % 2 === 0,
    where: `row ${i}`,
  }));
}

const dump = (rows: TokenizedRow[]): unknown =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Int32Array ? [...v] : v])));

test('worker threads give the same rows as one thread, for every stage and with packing', async () => {
  const tok = await llama2();
  const template = getTemplate('llama2');
  template.fixTokenizer(tok);
  const data = examples(40);
  const opts = { cutoffLen: 48, trainOnPrompt: false, maskHistory: false, packing: false, templateName: 'llama2', batchSize: 16 };
  const cases: [DataStage, boolean][] = [['sft', false], ['sft', true], ['pt', true], ['kto', false]];
  for (const [stage, packing] of cases) {
    const o = { ...opts, packing };
    const serial = await tokenizeExamples(data, template, tok, stage, o, 1);
    const parallel = await tokenizeExamples(data, template, tok, stage, o, 2);
    assert.ok(serial.rows.length > 0);
    assert.deepEqual(dump(parallel.rows), dump(serial.rows), `${stage} packing=${packing}`);
    assert.equal(parallel.dropped, serial.dropped);
  }
});

test('a bad example inside a worker is a UsageError naming its row', async () => {
  const tok = await llama2();
  const data = examples(6);
  data[4] = { ...data[4], prompt: [{ role: 'user', content: 'q' }], response: [{ role: 'function', content: 'not json' }] };
  const opts = { cutoffLen: 48, trainOnPrompt: false, maskHistory: false, packing: false, templateName: 'empty', batchSize: 1000 };
  await assert.rejects(tokenizeExamples(data, getTemplate('empty'), tok, 'sft', opts, 2), (e: Error) => e instanceof UsageError && /^row 4: invalid JSON/.test(e.message));
});
