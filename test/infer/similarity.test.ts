import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { rougeScores, segment, sentenceBleu, similarity } from '../../src/infer/similarity.js';

interface Golden {
  bleu: { predict: string; label: string; bleu: number }[];
  rouge: { hypothesis: string; reference: string; 'rouge-1': number; 'rouge-2': number; 'rouge-l': number }[];
}
const golden = JSON.parse(readFileSync('test/fixtures/infer/similarity-golden.json', 'utf8')) as Golden;

test('BLEU-4 on characters equals nltk sentence_bleu with SmoothingFunction().method3', () => {
  for (const { predict, label, bleu } of golden.bleu) {
    const ours = sentenceBleu(Array.from(label), Array.from(predict));
    assert.ok(Math.abs(ours - bleu) <= 1e-12, `${predict} vs ${label}: ${ours} != ${bleu}`);
  }
});

test('ROUGE-1/2/L on space-joined words equal rouge-chinese\'s formula', () => {
  for (const g of golden.rouge) {
    const ours = rougeScores(g.hypothesis, g.reference);
    for (const k of ['rouge-1', 'rouge-2', 'rouge-l'] as const) {
      assert.ok(Math.abs(ours[k] - g[k]) <= 1e-12, `${g.hypothesis} | ${g.reference} ${k}: ${ours[k]} != ${g[k]}`);
    }
  }
});

test('@node-rs/jieba cuts as jieba\'s README shows for its default dictionary', () => {
  assert.deepEqual(segment('我来到北京清华大学'), ['我', '来到', '北京', '清华大学']);
  assert.deepEqual(segment('他来到了网易杭研大厦'), ['他', '来到', '了', '网易', '杭研', '大厦']);
  assert.deepEqual(segment('小明硕士毕业于中国科学院计算所，后在日本京都大学深造'),
    ['小明', '硕士', '毕业', '于', '中国科学院', '计算所', '，', '后', '在', '日本京都大学', '深造']);
});

test('similarity: x100 and rounded to 4 places; an empty side scores ROUGE 0', () => {
  const same = similarity('我来到北京清华大学', '我来到北京清华大学');
  assert.deepEqual(same, { 'rouge-1': 100, 'rouge-2': 100, 'rouge-l': 100, 'bleu-4': 100 });
  const partial = similarity('他来到了网易杭研大厦', '我来到北京清华大学');
  assert.equal(partial['rouge-1'], 20);
  assert.equal(partial['bleu-4'], Number((golden.bleu[1].bleu * 100).toFixed(4)));
  assert.deepEqual(similarity('', 'abc'), { 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0, 'bleu-4': 0 });
});
