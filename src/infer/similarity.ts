// How close a generated reply is to the reference, as LLaMA-Factory's ComputeSimilarity scores `do_predict`:
// BLEU-4 of nltk's sentence_bleu on characters with SmoothingFunction().method3, and ROUGE-1/2/L F1 of rouge-chinese's
// Rouge().get_scores on the jieba words joined by spaces; each x100, rounded to 4 places, averaged over the samples.
// No npm package reproduces these two formulas exactly (nltk's clipping and smoothing, rouge-chinese's sentence cut,
// unique n-grams and summary-level LCS), so both are written here after the Python sources; segmentation is
// @node-rs/jieba (jieba-rs, with jieba's own dictionary and HMM for unknown words, as `jieba.cut` does).
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict.js';

export interface SimilarityScores {
  'bleu-4': number;
  'rouge-1': number;
  'rouge-2': number;
  'rouge-l': number;
}

let jieba: Jieba | null = null;

// jieba.cut(text) with HMM: every character of the text lands in exactly one word, spaces included.
export function segment(text: string): string[] {
  jieba ??= Jieba.withDict(dict);
  return jieba.cut(text, true);
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const gram = tokens.slice(i, i + n).join('\u0000');
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
}

// nltk.translate.bleu_score.sentence_bleu([reference], hypothesis, smoothing_function=SmoothingFunction().method3)
// with the default weights (0.25 each for 1- to 4-grams).
export function sentenceBleu(reference: readonly string[], hypothesis: readonly string[]): number {
  const precisions: { numerator: number; denominator: number }[] = [];
  for (let n = 1; n <= 4; n++) {
    const hyp = ngramCounts(hypothesis, n);
    const ref = ngramCounts(reference, n);
    let numerator = 0;
    let total = 0;
    for (const [gram, count] of hyp) {
      numerator += Math.min(count, ref.get(gram) ?? 0);
      total += count;
    }
    precisions.push({ numerator, denominator: Math.max(1, total) });
  }
  if (precisions[0].numerator === 0) return 0;
  // method3 (NIST geometric smoothing): the k-th order without matches counts as 1 / (2^k * its n-gram count).
  let k = 1;
  const logSum = precisions.reduce((sum, { numerator, denominator }) => {
    const p = numerator === 0 ? 1 / (2 ** k++ * denominator) : numerator / denominator;
    return sum + 0.25 * Math.log(p);
  }, 0);
  return brevityPenalty(reference.length, hypothesis.length) * Math.exp(logSum);
}

function brevityPenalty(refLen: number, hypLen: number): number {
  if (hypLen > refLen) return 1;
  if (hypLen === 0) return 0;
  return Math.exp(1 - refLen / hypLen);
}

// rouge-chinese's Rouge.cut_sent: a break after 。！？? (unless a closing quote follows), after six dots or two
// ellipses, and after a closing quote that ends a sentence.
function cutSentences(paragraph: string): string[] {
  return paragraph
    .replace(/([。！？?])([^”’])/g, '$1\n$2')
    .replace(/(\.{6})([^”’])/g, '$1\n$2')
    .replace(/(…{2})([^”’])/g, '$1\n$2')
    .replace(/([。！？?][”’])([^，。！？?])/g, '$1\n$2')
    .trimEnd()
    .split('\n');
}

// Python's str.split() (runs of whitespace) and then " ".join, per sentence; empty pieces are dropped first.
function wordsOf(text: string): string[] {
  const sentences = cutSentences(text)
    .filter((s) => s.length > 0)
    .map((s) => s.split(/\s+/).filter((w) => w !== '').join(' '));
  return sentences.flatMap((s) => s.split(' '));
}

function f1(overlap: number, hypCount: number, refCount: number): number {
  const precision = hypCount === 0 ? 0 : overlap / hypCount;
  const recall = refCount === 0 ? 0 : overlap / refCount;
  return 2 * ((precision * recall) / (precision + recall + 1e-8));
}

// ROUGE-N over the sets of distinct n-grams (rouge-chinese's default exclusive mode).
function rougeN(hyp: readonly string[], ref: readonly string[], n: number): number {
  const hypGrams = new Set(ngramCounts(hyp, n).keys());
  const refGrams = new Set(ngramCounts(ref, n).keys());
  let overlap = 0;
  for (const gram of hypGrams) if (refGrams.has(gram)) overlap++;
  return f1(overlap, hypGrams.size, refGrams.size);
}

// Summary-level ROUGE-L as rouge-chinese computes it: one LCS over all words of each side.
function rougeL(hyp: readonly string[], ref: readonly string[]): number {
  let prev = new Array<number>(hyp.length + 1).fill(0);
  for (let i = 1; i <= ref.length; i++) {
    const row = [0];
    for (let j = 1; j <= hyp.length; j++) {
      row.push(ref[i - 1] === hyp[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]));
    }
    prev = row;
  }
  const lcs = prev[hyp.length];
  const recall = lcs / ref.length;
  const precision = lcs / hyp.length;
  return 2 * ((precision * recall) / (precision + recall + 1e-8));
}

// Rouge().get_scores(hypothesis, reference)[0] F1 scores, both sides already segmented and joined by spaces.
export function rougeScores(hypothesis: string, reference: string): Pick<SimilarityScores, 'rouge-1' | 'rouge-2' | 'rouge-l'> {
  const hyp = wordsOf(hypothesis);
  const ref = wordsOf(reference);
  return { 'rouge-1': rougeN(hyp, ref, 1), 'rouge-2': rougeN(hyp, ref, 2), 'rouge-l': rougeL(hyp, ref) };
}

// Python's round(x, 4): to nearest, exact ties to even.
function round4(x: number): number {
  const scaled = x * 1e4;
  if (Number.isInteger(scaled * 2) && !Number.isInteger(scaled)) {
    const down = Math.floor(scaled);
    return (down % 2 === 0 ? down : down + 1) / 1e4;
  }
  return Number(x.toFixed(4));
}

// One sample's scores, x100 and rounded as LLaMA-Factory stores them.
export function similarity(predict: string, label: string): SimilarityScores {
  const hypothesis = segment(predict).join(' ');
  const reference = segment(label).join(' ');
  const blank = (s: string): boolean => s.split(/\s+/).every((w) => w === '');
  const rouge = blank(hypothesis) || blank(reference)
    ? { 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0 }
    : rougeScores(hypothesis, reference);
  return {
    'rouge-1': round4(rouge['rouge-1'] * 100),
    'rouge-2': round4(rouge['rouge-2'] * 100),
    'rouge-l': round4(rouge['rouge-l'] * 100),
    'bleu-4': round4(sentenceBleu(Array.from(label), Array.from(predict)) * 100),
  };
}
