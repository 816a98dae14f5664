import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RetuneError, UsageError } from '../../src/util/errors.js';
import { IGNORE_INDEX } from '../../src/data/processors.js';
import { configSchema } from '../../src/config/schema.js';
import { prepareDataset, type DataArgs } from '../../src/data/prepare.js';
import type { TokenizedDataset } from '../../src/data/dataset-store.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { FIXTURES, ids, llama2, qwen3, tempDir } from './helpers.js';

const DS = join(FIXTURES, 'ds');
// What the data layer gets: keys checked and defaults resolved by the config schema.
const dataArgs = (extra: Record<string, unknown> = {}): DataArgs =>
  configSchema.parse({ dataset_dir: DS, template: 'qwen3_nothink', cutoff_len: 256, seed: 7, ...extra });

const rows = (d: TokenizedDataset): { ids: number[]; labels: number[] }[] =>
  Array.from({ length: d.size }, (_, i) => ({ ids: [...d.get(i).inputIds], labels: [...d.get(i).labels] }));
const answer = (tok: Tokenizer, labels: number[]): string => tok.decode(labels.filter((l) => l !== IGNORE_INDEX));

test('alpaca json -> sft rows with exact ids and labels; a row whose answer is null is dropped and counted', async () => {
  const tok = await qwen3();
  const out = await prepareDataset(dataArgs({ dataset: 'alpaca' }), tok, 'sft');
  assert.equal(out.train.size, 3);
  assert.equal(out.dropped, 1);
  assert.equal(out.eval, null);
  assert.match(out.fingerprint, /^[0-9a-f]{64}$/);
  const prompt = ids(tok, '<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n');
  const response = ids(tok, 'Paris.<|im_end|>\n');
  const first = out.train.get(0);
  assert.deepEqual([...first.inputIds], [...prompt, ...response]);
  assert.deepEqual([...first.labels], [...new Array(prompt.length).fill(IGNORE_INDEX), ...response]);
  assert.equal(tok.decode(out.train.get(1).inputIds), '<|im_start|>user\nTranslate to Chinese\nGood morning<|im_end|>\n<|im_start|>assistant\n早上好<|im_end|>\n');
});

test('parquet, csv, jsonl with system + history, and a folder of files all load', async () => {
  const tok = await qwen3();
  const parquet = await prepareDataset(dataArgs({ dataset: 'alpaca_parquet' }), tok, 'sft');
  assert.deepEqual(rows(parquet.train).map((r) => answer(tok, r.labels)), ['Red.<|im_end|>\n', 'I love learning.<|im_end|>\n', '5<|im_end|>\n']);
  assert.ok(tok.decode(parquet.train.get(1).inputIds).includes('把这句话翻译成英文\n我爱学习'));
  const csv = await prepareDataset(dataArgs({ dataset: 'alpaca_csv' }), tok, 'sft');
  assert.equal(tok.decode(csv.train.get(0).inputIds), '<|im_start|>user\nQuote "this"<|im_end|>\n<|im_start|>assistant\nHe said "hi", then left.<|im_end|>\n');
  assert.ok(tok.decode(csv.train.get(1).inputIds).includes('Two\nlines\nx'));
  const sys = await prepareDataset(dataArgs({ dataset: 'alpaca_sys' }), tok, 'sft');
  assert.equal(
    tok.decode(sys.train.get(0).inputIds),
    '<|im_start|>system\nYou are a translator.<|im_end|>\n<|im_start|>user\nSay hello in French.<|im_end|>\n<|im_start|>assistant\nBonjour.<|im_end|>\n' +
      '<|im_start|>user\nAnd in Spanish?<|im_end|>\n<|im_start|>assistant\nHola.<|im_end|>\n',
  );
  assert.equal(answer(tok, rows(sys.train)[0].labels), 'Bonjour.<|im_end|>\nHola.<|im_end|>\n');
  const parts = await prepareDataset(dataArgs({ dataset: 'parts' }), tok, 'sft');
  assert.deepEqual(rows(parts.train).map((r) => answer(tok, r.labels)), ['A<|im_end|>\n', 'B1<|im_end|>\n', 'B2<|im_end|>\n']);
});

test('sharegpt: system tag, multi-turn, tools, function call and observation; OpenAI role/content via tags', async () => {
  const tok = await qwen3();
  const chat = await prepareDataset(dataArgs({ dataset: 'chat', template: 'qwen' }), tok, 'sft');
  const [multi, tools] = rows(chat.train);
  assert.ok(tok.decode(multi.ids).startsWith('<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>'));
  assert.equal(answer(tok, multi.labels), 'Hello.<|im_end|>\n我是助手。<|im_end|>\n');
  const text = tok.decode(tools.ids);
  assert.ok(text.includes('# Tools') && text.includes('{"type": "function", "function": {"name": "get_weather"'));
  assert.ok(text.includes('<|im_start|>user\n<tool_response>\n{"temp": 25}\n</tool_response><|im_end|>'));
  assert.equal(answer(tok, tools.labels), '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call><|im_end|>\n25 degrees.<|im_end|>\n');
  const openai = await prepareDataset(dataArgs({ dataset: 'openai' }), tok, 'sft');
  assert.ok(tok.decode(openai.train.get(0).inputIds).startsWith('<|im_start|>system\nYou are kind.<|im_end|>'));
  assert.equal(answer(tok, rows(openai.train)[1].labels), '4<|im_end|>\n6<|im_end|>\n');
});

test('pt from a .txt corpus: EOS after each line (a blank line is an EOS alone), cut into cutoff_len blocks', async () => {
  const tok = await llama2();
  const out = await prepareDataset(dataArgs({ stage: 'pt', dataset: 'corpus', template: 'default', cutoff_len: 16 }), tok, 'pt');
  const lines = ['The quick brown fox jumps over the lazy dog.', '', '敏捷的棕色狐狸跳过了懒狗。', 'A third line of plain pre-training text.'];
  const all = lines.flatMap((l) => ids(tok, l + '</s>'));
  assert.equal(out.train.size, Math.floor(all.length / 16));
  assert.deepEqual([...out.train.get(1).inputIds], [1, ...all.slice(17, 32)]);
});

test('rm/dpo pairs and kto tags go through prepareDataset', async () => {
  const tok = await qwen3();
  const pairs = await prepareDataset(dataArgs({ dataset: 'pairs' }), tok, 'dpo');
  assert.equal(pairs.train.size, 2);
  assert.equal(answer(tok, [...(pairs.train.get(1).rejectedLabels as Int32Array)]), '5<|im_end|>\n');
  const kto = await prepareDataset(dataArgs({ dataset: 'kto' }), tok, 'kto');
  assert.deepEqual(Array.from({ length: 3 }, (_, i) => kto.train.get(i).ktoTag), [true, false, true]);
  assert.ok(tok.decode(kto.train.get(0).klIds as Int32Array).endsWith('Tokyo.<|im_end|>\n'));
});

test('mix strategies, max_samples, num_samples, val_size and eval_dataset', async () => {
  const tok = await qwen3();
  const sizes = async (extra: Record<string, unknown>): Promise<[number, number]> => {
    const out = await prepareDataset(dataArgs(extra), tok, 'sft');
    return [out.train.size, out.eval?.size ?? 0];
  };
  assert.deepEqual(await sizes({ dataset: 'alpaca,parts' }), [6, 0]);
  assert.deepEqual(await sizes({ dataset: ['parts', 'openai'], mix_strategy: 'interleave_under' }), [4, 0]); // p o p o
  assert.deepEqual(await sizes({ dataset: 'parts,openai', mix_strategy: 'interleave_over' }), [6, 0]); // until both ran out
  const probs = await prepareDataset(dataArgs({ dataset: 'parts,openai', mix_strategy: 'interleave_over', interleave_probs: '0.5,0.5' }), tok, 'sft');
  const again = await prepareDataset(dataArgs({ dataset: 'parts,openai', mix_strategy: 'interleave_over', interleave_probs: [0.5, 0.5] }), tok, 'sft');
  assert.deepEqual(rows(probs.train), rows(again.train));
  assert.deepEqual(await sizes({ dataset: 'alpaca', max_samples: 2 }), [2, 0]);
  const sampled = await prepareDataset(dataArgs({ dataset: 'sampled' }), tok, 'sft');
  assert.equal(sampled.train.size + sampled.dropped, 7);
  assert.deepEqual(await sizes({ dataset: 'alpaca,parts', val_size: 0.25 }), [4, 2]);
  assert.deepEqual(await sizes({ dataset: 'alpaca,parts', val_size: 1 }), [5, 1]);
  assert.deepEqual(await sizes({ dataset: 'alpaca', eval_dataset: 'parts' }), [3, 3]);
  const a = await prepareDataset(dataArgs({ dataset: 'alpaca,parts', val_size: 2 }), tok, 'sft');
  const b = await prepareDataset(dataArgs({ dataset: 'alpaca,parts', val_size: 2, seed: 8 }), tok, 'sft');
  assert.notDeepEqual(rows(a.eval as TokenizedDataset), rows(b.eval as TokenizedDataset));
  await assert.rejects(prepareDataset(dataArgs({ dataset: 'alpaca,parts', interleave_probs: '0.3,0.3', mix_strategy: 'interleave_under' }), tok, 'sft'), /sum to 1/);
});

test('packing: samples share rows up to cutoff_len with per-sample positions and segments', async () => {
  const tok = await qwen3();
  const plain = await prepareDataset(dataArgs({ dataset: 'alpaca,parts,openai' }), tok, 'sft');
  const packed = await prepareDataset(dataArgs({ dataset: 'alpaca,parts,openai', packing: true, cutoff_len: 64 }), tok, 'sft');
  assert.ok(packed.train.size < plain.train.size);
  let total = 0;
  for (let i = 0; i < packed.train.size; i++) {
    const row = packed.train.get(i);
    const positions = row.positions as Int32Array;
    const segments = row.segments as Int32Array;
    assert.ok(row.inputIds.length <= 64);
    total += row.inputIds.length;
    for (let t = 0; t < row.inputIds.length; t++) {
      const starts = t === 0 || segments[t] !== segments[t - 1];
      assert.equal(positions[t] === 0, starts);
      if (!starts) assert.equal(positions[t], positions[t - 1] + 1);
    }
  }
  const long = rows(plain.train).filter((r) => r.ids.length > 64).length;
  assert.equal(total, rows(plain.train).filter((r) => r.ids.length <= 64).reduce((s, r) => s + r.ids.length, 0));
  assert.equal(packed.dropped, plain.dropped + long);
});

test('tokenized_path caches by fingerprint; changed data, template or cutoff_len change the fingerprint', async () => {
  const dir = tempDir('cache');
  const data = join(dir, 'data');
  cpSync(DS, data, { recursive: true });
  const cache = join(dir, 'tok');
  const args = dataArgs({ dataset_dir: data, dataset: 'alpaca', tokenized_path: cache });
  const first = await prepareDataset(args, await qwen3(), 'sft');
  assert.deepEqual(readdirSync(cache), [first.fingerprint]);
  const second = await prepareDataset(args, await qwen3(), 'sft');
  assert.equal(second.fingerprint, first.fingerprint);
  assert.deepEqual(rows(second.train), rows(first.train));
  assert.equal(second.dropped, first.dropped);
  const overwritten = await prepareDataset({ ...args, overwrite_cache: true }, await qwen3(), 'sft');
  assert.deepEqual(rows(overwritten.train), rows(first.train));
  assert.deepEqual(readdirSync(cache), [first.fingerprint]);
  const prints = new Set([first.fingerprint]);
  prints.add((await prepareDataset({ ...args, cutoff_len: 128 }, await qwen3(), 'sft')).fingerprint);
  prints.add((await prepareDataset({ ...args, template: 'qwen' }, await qwen3(), 'sft')).fingerprint);
  prints.add((await prepareDataset({ ...args, train_on_prompt: true }, await qwen3(), 'sft')).fingerprint);
  writeFileSync(join(data, 'alpaca.json'), JSON.stringify([{ instruction: 'changed', input: '', output: 'yes' }]));
  const changed = await prepareDataset(args, await qwen3(), 'sft');
  prints.add(changed.fingerprint);
  assert.equal(prints.size, 5);
  assert.equal(changed.train.size, 1);
  assert.ok(existsSync(join(cache, changed.fingerprint, 'train.bin')));
  writeFileSync(join(cache, changed.fingerprint, 'train.bin'), Buffer.from([1, 2, 3]));
  await assert.rejects(prepareDataset(args, await qwen3(), 'sft'), (e: Error) => e instanceof RetuneError && /corrupt tokenized dataset.*overwrite_cache/.test(e.message));
  assert.equal((await prepareDataset({ ...args, overwrite_cache: true }, await qwen3(), 'sft')).train.size, 1);
});

test('bad data is a UsageError naming the file, row and field', async () => {
  const tok = await qwen3();
  const dir = tempDir('bad');
  const info: Record<string, unknown> = {
    broken_line: { file_name: 'broken.jsonl' },
    no_output: { file_name: 'no_output.json' },
    empty_conv: { file_name: 'empty.json', formatting: 'sharegpt' },
    disorder: { file_name: 'disorder.json', formatting: 'sharegpt' },
    missing: { file_name: 'nowhere.json' },
    weird: { file_name: 'data.xml' },
    hub: { hf_hub_url: 'org/data' },
    pictures: { file_name: 'no_output.json', columns: { prompt: 'instruction', response: 'output', images: 'images' } },
  };
  writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify(info));
  writeFileSync(join(dir, 'broken.jsonl'), '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n');
  writeFileSync(join(dir, 'no_output.json'), JSON.stringify([{ instruction: 'a', output: 'b' }, { instruction: 'c' }]));
  writeFileSync(join(dir, 'empty.json'), JSON.stringify([{ conversations: [] }]));
  writeFileSync(join(dir, 'disorder.json'), JSON.stringify([{ conversations: [{ from: 'gpt', value: 'x' }, { from: 'human', value: 'y' }] }]));
  writeFileSync(join(dir, 'data.xml'), '<x/>');
  const fails = async (dataset: string, pattern: RegExp): Promise<void> => {
    await assert.rejects(prepareDataset(dataArgs({ dataset_dir: dir, dataset }), tok, 'sft'), (e: Error) => {
      assert.ok(e instanceof UsageError, `${dataset}: ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  };
  await fails('broken_line', /broken\.jsonl:2: malformed JSON line/);
  await fails('no_output', /no_output\.json row 1: field "output": missing/);
  await fails('empty_conv', /empty\.json row 0: field "conversations": empty conversation/);
  await fails('disorder', /disorder\.json row 0: field "conversations\[0\]\.from": roles out of order/);
  await fails('missing', /file not found: .*nowhere\.json/);
  await fails('weird', /unsupported file type ".xml"/);
  await fails('hub', /hf_hub_url.*download the data.*file_name/);
  await fails('pictures', /columns\.images is not supported/);
  await fails('absent', /"absent" is not defined in .*dataset_info\.json/);
  await assert.rejects(prepareDataset(dataArgs({ dataset: 'alpaca' }), tok, 'dpo'), /ranking dataset/);
  await assert.rejects(prepareDataset(dataArgs({ stage: 'pt', dataset: 'corpus', cutoff_len: 4096 }), tok, 'pt'), /only full cutoff_len blocks/);
});
