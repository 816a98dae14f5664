import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import type { DataStage, Example } from '../../src/data/converter.js';
import type { TokenizedRow } from '../../src/data/dataset-store.js';
import { getTemplate } from '../../src/data/template.js';
import { shardSizes, tokenizeExamples, workerThreads } from '../../src/data/tokenize.js';
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
    const serial = await tokenizeExamples(data, template, tok, stage, o, { numProc: 2, threads: 1 });
    const parallel = await tokenizeExamples(data, template, tok, stage, o, { numProc: 2, threads: 2 });
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
  await assert.rejects(tokenizeExamples(data, getTemplate('empty'), tok, 'sft', opts, { numProc: null, threads: 2 }), (e: Error) => e instanceof UsageError && /^row 4: invalid JSON/.test(e.message));
});

test('shards as datasets cuts them for num_proc: contiguous, the first ones a row longer, never more than the rows', () => {
  assert.deepEqual(shardSizes(13, 3), [5, 4, 4]);
  assert.deepEqual(shardSizes(12, 2), [6, 6]);
  assert.deepEqual(shardSizes(4, 16), [1, 1, 1, 1]);
  assert.deepEqual(shardSizes(5, null), [5]);
  assert.deepEqual(shardSizes(5, 0), [5]);
  assert.deepEqual(shardSizes(0, 2), []);
});

test('worker threads: what preprocessing_num_workers asks, capped by the cores, 8 and one per 2000 examples', () => {
  const cores = availableParallelism();
  assert.equal(workerThreads(16, 300), 1);
  assert.equal(workerThreads(null, 3999), 1);
  assert.equal(workerThreads(0, 1e6), 1);
  assert.equal(workerThreads(16, 1e6), Math.min(cores, 8));
  assert.equal(workerThreads(null, 4000), Math.min(cores, 2));
});
