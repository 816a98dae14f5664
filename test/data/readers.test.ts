import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { dataFiles, readRows, rowWhere } from '../../src/data/readers.js';
import { FIXTURES, tempDir } from './helpers.js';

const noWarning = (message: string): void => assert.fail(`unexpected warning: ${message}`);

test('parquet rows come back as objects (file written by make_parquet.py)', async () => {
  const rows = await readRows(join(FIXTURES, 'ds', 'alpaca.parquet'), noWarning);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[1].data, { instruction: '把这句话翻译成英文', input: '我爱学习', output: 'I love learning.' });
  assert.equal(rowWhere(rows[2]), `${join(FIXTURES, 'ds', 'alpaca.parquet')} row 2`);
});

test('csv: quoted commas, doubled quotes, embedded newlines, CRLF; line numbers of records', async () => {
  const dir = tempDir('csv');
  const file = join(dir, 'a.csv');
  writeFileSync(file, 'q,a\r\n"x, y","say ""hi"""\r\n"multi\nline",plain\r\n');
  const rows = await readRows(file, noWarning);
  assert.deepEqual(rows.map((r) => r.data), [{ q: 'x, y', a: 'say "hi"' }, { q: 'multi\nline', a: 'plain' }]);
  assert.deepEqual(rows.map((r) => r.line), [2, 3]);
  writeFileSync(file, 'q,a\n1,2,3\n');
  await assert.rejects(readRows(file, noWarning), /a\.csv:2: 3 fields, but the header has 2/);
});

test('json arrays and JSON lines in .json; malformed JSON names the line', async () => {
  const dir = tempDir('json');
  const file = join(dir, 'd.json');
  writeFileSync(file, '{"a": 1}\n{"a": 2}\n');
  assert.deepEqual((await readRows(file, noWarning)).map((r) => r.data.a), [1, 2]);
  writeFileSync(file, '[\n {"a": 1},\n {"a": 2,,}\n]');
  await assert.rejects(readRows(file, noWarning), (e: Error) => e instanceof UsageError && /d\.json:3: malformed JSON/.test(e.message));
  writeFileSync(file, '[1, 2]');
  await assert.rejects(readRows(file, noWarning), /d\.json row 0: expected a JSON object, got number/);
});

test('txt: one sample per line in column "text", blank lines included, as datasets\' text loader', async () => {
  const rows = await readRows(join(FIXTURES, 'ds', 'corpus.txt'), noWarning);
  assert.deepEqual(rows.map((r) => [r.line, r.data.text]), [
    [1, 'The quick brown fox jumps over the lazy dog.'],
    [2, ''],
    [3, '敏捷的棕色狐狸跳过了懒狗。'],
    [4, 'A third line of plain pre-training text.'],
  ]);
  const file = join(tempDir('txt'), 'lines.txt');
  writeFileSync(file, 'a\r\n  \r\nb\rc\n\n');
  assert.deepEqual((await readRows(file, noWarning)).map((r) => r.data.text), ['a', '  ', 'b', 'c', '']);
  writeFileSync(file, '');
  assert.deepEqual(await readRows(file, noWarning), []);
});

test('a folder lists its data files in name order and refuses mixed types', () => {
  const dir = tempDir('folder');
  mkdirSync(join(dir, 'f'));
  writeFileSync(join(dir, 'f', 'b.jsonl'), '{}');
  writeFileSync(join(dir, 'f', 'a.jsonl'), '{}');
  assert.deepEqual(dataFiles(join(dir, 'f'), 'x'), [join(dir, 'f', 'a.jsonl'), join(dir, 'f', 'b.jsonl')]);
  writeFileSync(join(dir, 'f', 'c.csv'), 'a\n1\n');
  assert.throws(() => dataFiles(join(dir, 'f'), 'dataset x'), /mixes file types/);
});
