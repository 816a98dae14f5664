// growVocab against LLaMA-Factory's resize_embedding_layer as torch runs it (test/fixtures/vocab/generate.py): the
// grown shapes, the mean part of the noisy-mean rows exactly, the noise and padding rows by their statistics (torch's
// random stream differs from Retune's), tied heads staying tied, desc_init, and the same bits for the same seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { growVocab, meanOfRows, type VocabGrowth } from '../../src/model/vocab.js';
import { maxAbsDiff, modelDir } from './helpers.js';

const BASE = 'test/fixtures/train/model';
const golden = readSafetensors('test/fixtures/vocab/golden.safetensors');
const C = 16;
const NEW_IDS = [320, 321, 322]; // zebra, <animal>, </animal>: the tokenizer grows from 320 to 323
const growth: VocabGrowth = { size: 323, newTokenIds: NEW_IDS, init: 'noise_init', descriptions: null, seed: 7 };

function g(name: string): Float32Array {
  const t = golden.get(name);
  if (t === undefined) throw new Error(`golden tensor ${name} is missing`);
  return t.data;
}

function rows(values: Float32Array, ids: number[]): Float32Array {
  const out = new Float32Array(ids.length * C);
  ids.forEach((id, i) => out.set(values.subarray(id * C, (id + 1) * C), i * C));
  return out;
}

function std(values: ArrayLike<number>): number {
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    sq += values[i] ** 2;
  }
  const mean = sum / values.length;
  return Math.sqrt(sq / values.length - mean * mean);
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

// The noise of the new rows: each row minus the mean of the others.
function noiseOf(values: Float32Array, ids: number[]): Float32Array {
  const mean = meanOfRows(values, C, range(0, values.length / C).filter((i) => !ids.includes(i)));
  return rows(values, ids).map((v, i) => v - mean[i % C]);
}

test('the mean part of the noisy-mean rows equals torch (LLaMA-Factory ff6d4d12 _noisy_mean_initialization)', () => {
  const others = range(0, 384).filter((i) => !NEW_IDS.includes(i));
  assert.ok(maxAbsDiff(meanOfRows(g('embed'), C, others), g('embed_mean')) < 1e-6);
  assert.ok(maxAbsDiff(meanOfRows(g('head'), C, others), g('head_mean')) < 1e-6);
  assert.deepEqual([...g('new_ids')], NEW_IDS);
});

test('embedding and LM head grow to a multiple of 64, old rows kept, new rows distributed as torch draws them', async () => {
  const model = await loadModel(BASE);
  const before = model.embedTokens.weight.values();
  const headBefore = model.lmHead.weight.values();
  assert.deepEqual(growVocab(model, growth), { from: 320, to: 384 });
  assert.deepEqual(model.embedTokens.weight.shape, [384, C]);
  assert.deepEqual(model.lmHead.weight.shape, [384, C]);
  assert.equal(model.config.vocab_size, 384);
  assert.equal(model.config.raw.vocab_size, 384);
  const embed = model.embedTokens.weight.values();
  const head = model.lmHead.weight.values();
  assert.deepEqual(embed.subarray(0, 320 * C), before);
  assert.deepEqual(head.subarray(0, 320 * C), headBefore);
  // Noise N(0, 1/sqrt(C)) = 0.25 on the new rows; padding rows N(0, initializer_range = 0.2), in torch as here.
  for (const [name, ours] of [['embed', embed], ['head', head]] as const) {
    const theirs = g(name);
    for (const values of [ours, theirs]) {
      const noise = std(noiseOf(values, NEW_IDS));
      assert.ok(noise > 0.15 && noise < 0.35, `${name} noise std ${noise}`);
      const padding = std(rows(values, range(323, 384)));
      assert.ok(padding > 0.17 && padding < 0.23, `${name} padding std ${padding}`);
    }
  }
  // Same seed, same bits; another seed, other noise.
  const again = await loadModel(BASE);
  growVocab(again, growth);
  assert.deepEqual(again.embedTokens.weight.values(), embed);
  assert.deepEqual(again.lmHead.weight.values(), head);
  const other = await loadModel(BASE);
  growVocab(other, { ...growth, seed: 8 });
  assert.notDeepEqual(other.embedTokens.weight.values(), embed);
});

test('without configured tokens the rows the resize added are all initialised from the old rows (tail slice)', async () => {
  const model = await loadModel(BASE);
  const old = model.embedTokens.weight.values();
  growVocab(model, { ...growth, newTokenIds: [] });
  const embed = model.embedTokens.weight.values();
  const mean = meanOfRows(old, C, range(0, 320));
  const noise = rows(embed, range(320, 384)).map((v, i) => v - mean[i % C]);
  assert.ok(Math.abs(std(noise) - 0.25) < 0.03, `noise std ${std(noise)}`);
  let drift = 0;
  for (let i = 0; i < noise.length; i++) drift += noise[i] / noise.length;
  assert.ok(Math.abs(drift) < 0.03, `noise mean ${drift}`);
});

test('a tied LM head grows with the embedding and stays tied; nothing changes when the tokenizer fits', async () => {
  const model = await loadModel(modelDir('llama-tied'));
  const V = model.embedTokens.weight.shape[0];
  assert.equal(growVocab(model, { ...growth, size: V, newTokenIds: [] }), null);
  const grown = growVocab(model, { ...growth, size: V + 1, newTokenIds: [V] });
  assert.deepEqual(grown, { from: V, to: Math.ceil((V + 1) / 64) * 64 });
  assert.equal(model.lmHead.weight, model.embedTokens.weight);
});

test('desc_init sets a described token to the mean of its description rows; desc_init_w_noise adds noise', async () => {
  const model = await loadModel(BASE);
  const old = model.embedTokens.weight.values();
  const description = [5, 9, 321, 40]; // 321 is a new token: left out of the mean
  const descriptions = new Map([[321, description]]);
  growVocab(model, { ...growth, init: 'desc_init', descriptions });
  const embed = model.embedTokens.weight.values();
  assert.deepEqual(rows(embed, [321]), meanOfRows(old, C, [5, 9, 40]));
  assert.deepEqual(rows(model.lmHead.weight.values(), [321]), meanOfRows(old, C, [5, 9, 40]));
  const noisy = await loadModel(BASE);
  growVocab(noisy, { ...growth, init: 'desc_init_w_noise', descriptions });
  const diff = rows(noisy.embedTokens.weight.values(), [321]).map((v, i) => v - meanOfRows(old, C, [5, 9, 40])[i]);
  assert.ok(std(diff) > 0.1, `noise std ${std(diff)}`);
});
