// Choosing and combining samples: num_samples per dataset, merging several datasets (concat or interleave), and
// the train/eval split. Every random choice comes from Rng streams of the run's seed, so the result is a pure
// function of (data, options, seed).

import { UsageError } from '../util/errors.js';
import { Rng, permutation } from '../tensor/random.js';

export type MixStrategy = 'concat' | 'interleave_under' | 'interleave_over';

const NUM_SAMPLES_STREAM = 0x6e530000;
const INTERLEAVE_STREAM = 0x696c0000;
const SPLIT_STREAM = 0x73700000;

// dataset_info's num_samples: every sample once in a seeded order, then extra draws with replacement when more are
// asked for than exist, or the first `target` of that order when fewer are.
export function sampleCount<T>(items: T[], target: number, seed: number, datasetIndex: number): T[] {
  if (items.length === 0) return items;
  const rng = new Rng(seed, NUM_SAMPLES_STREAM + datasetIndex);
  const order = Array.from(permutation(items.length, rng)).slice(0, target);
  while (order.length < target) order.push(rng.nextInt(items.length));
  return order.map((i) => items[i]);
}

export function parseProbs(value: string | number[] | null | undefined, count: number): number[] | null {
  if (value === null || value === undefined || value === '') return null;
  const probs = typeof value === 'string' ? value.split(',').map((s) => Number(s.trim())) : value;
  if (probs.length !== count || probs.some((p) => !Number.isFinite(p) || p < 0)) {
    throw new UsageError(`interleave_probs: expected ${count} non-negative numbers (one per dataset), got ${JSON.stringify(value)}`);
  }
  const sum = probs.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) throw new UsageError(`interleave_probs: the probabilities must sum to 1, got ${sum}`);
  return probs;
}

export function mergeDatasets<T>(lists: T[][], strategy: MixStrategy, probs: number[] | null, seed: number): T[] {
  if (lists.length === 1) return lists[0];
  if (strategy === 'concat') return lists.flat();
  if (lists.some((l) => l.length === 0)) return strategy === 'interleave_under' ? [] : lists.flat();
  return interleave(lists, probs, strategy === 'interleave_under', new Rng(seed, INTERLEAVE_STREAM));
}

// HF's interleave_datasets. Without probabilities: round-robin rounds, min(lengths) of them for `under`
// (first_exhausted), max(lengths) for `over` (all_exhausted, shorter datasets cycling). With probabilities: a seeded
// draw per sample; `under` stops once any dataset has run out, `over` once every one has (restarting exhausted ones).
function interleave<T>(lists: T[][], probs: number[] | null, under: boolean, rng: Rng): T[] {
  const lengths = lists.map((l) => l.length);
  const out: T[] = [];
  if (probs === null) {
    const rounds = under ? Math.min(...lengths) : Math.max(...lengths);
    for (let r = 0; r < rounds; r++) for (const list of lists) out.push(list[r % list.length]);
    return out;
  }
  const cursor = new Array<number>(lists.length).fill(0);
  const exhausted = new Array<boolean>(lists.length).fill(false);
  while (under ? !exhausted.some(Boolean) : !exhausted.every(Boolean)) {
    const i = pick(probs, rng);
    out.push(lists[i][cursor[i]]);
    cursor[i]++;
    if (cursor[i] === lengths[i]) {
      exhausted[i] = true;
      cursor[i] = 0;
    }
  }
  return out;
}

function pick(probs: number[], rng: Rng): number {
  const r = rng.nextFloat();
  let acc = 0;
  for (let i = 0; i < probs.length; i++) {
    acc += probs[i];
    if (r < acc) return i;
  }
  return probs.length - 1;
}

// val_size < 1 is a fraction (rounded up, as HF's train_test_split does), >= 1 a count. The split shuffles both parts.
export function splitTrainEval<T>(items: T[], valSize: number, seed: number): { train: T[]; eval: T[] } {
  if (!(valSize > 0)) return { train: items, eval: [] };
  const nEval = valSize < 1 ? Math.ceil(valSize * items.length) : Math.floor(valSize);
  if (!Number.isInteger(valSize) && valSize >= 1) throw new UsageError(`val_size: a count must be an integer, got ${valSize}`);
  if (nEval >= items.length) {
    throw new UsageError(`val_size: ${valSize} leaves no training samples (the dataset has ${items.length})`);
  }
  const order = permutation(items.length, new Rng(seed, SPLIT_STREAM));
  const evalItems: T[] = [];
  const trainItems: T[] = [];
  order.forEach((index, k) => (k < nEval ? evalItems : trainItems).push(items[index]));
  return { train: trainItems, eval: evalItems };
}
