// Growing the vocabulary of a model to its tokenizer, as LLaMA-Factory's resize_embedding_layer does
// (hiyouga/LLaMA-Factory ff6d4d12, model/model_utils/embedding.py):
// - when the tokenizer has more tokens than the embedding has rows, the embedding and an untied LM head grow to the
//   tokenizer's size rounded up to a multiple of 64 (transformers' resize_token_embeddings(pad_to_multiple_of=64,
//   mean_resizing=False)); the rows beyond the old ones start as transformers' _init_weights draws them,
//   N(0, initializer_range);
// - then the rows of the configured new tokens (or, when none is configured, every row the resize added) are set:
//   noise_init = the mean of every other row + N(0, 1/sqrt(C)) noise; desc_init = the mean of the input embedding
//   rows of the token's description (new tokens' rows left out; none left: the mean of the other rows), plus the same
//   noise for desc_init_w_noise.
// A tied LM head shares the embedding tensor, so it grows with it and stays tied. Random numbers come from Rng(seed,
// VOCAB_STREAM) in a fixed order: the embedding's padding rows, the head's, then each initialised matrix's noise
// row by row, so a run (and its resume, which grows the base model again) gets the same rows for the same seed.
import { UsageError } from '../util/errors.js';
import { Rng } from '../tensor/random.js';
import { f32ToBf16, type Tensor } from '../tensor/tensor.js';
import type { CausalLM } from './causal-lm.js';

const VOCAB_STREAM = 0x70cab;
const PAD_TO = 64;

export interface VocabGrowth {
  size: number; // the tokenizer's length (transformers' len(tokenizer))
  newTokenIds: number[]; // ids of the configured new tokens
  init: 'noise_init' | 'desc_init' | 'desc_init_w_noise';
  descriptions: Map<number, number[]> | null; // new token id -> its description's token ids (desc_init)
  seed: number;
}

// Returns the old and new row counts, or null when no row changed.
export function growVocab(model: CausalLM, growth: VocabGrowth): { from: number; to: number } | null {
  const embed = model.embedTokens.weight;
  const head = model.config.tie_word_embeddings ? null : model.lmHead.weight;
  const [from, C] = embed.shape;
  const rng = new Rng(growth.seed, VOCAB_STREAM);
  let to = from;
  if (growth.size > from) {
    if (head !== null && head.shape[0] !== from) {
      throw new UsageError(`lm_head has ${head.shape[0]} rows but embed_tokens ${from}: cannot resize the vocabulary of this model`);
    }
    to = Math.ceil(growth.size / PAD_TO) * PAD_TO;
    const std = typeof model.config.raw.initializer_range === 'number' ? model.config.raw.initializer_range : 0.02;
    for (const t of head === null ? [embed] : [embed, head]) growRows(t, to, std, rng);
    model.config.vocab_size = to;
    model.config.raw = { ...model.config.raw, vocab_size: to };
  }
  const ids = [...new Set(growth.newTokenIds.filter((id) => id >= 0 && id < to))].sort((a, b) => a - b);
  if (to === from && ids.length === 0) return null;
  const rows = ids.length > 0 ? ids : range(from, to);
  const baseline = ids.length > 0 ? null : from;
  const inputRows = embed.values();
  for (const t of head === null ? [embed] : [embed, head]) {
    initRows(t, rows, baseline, growth, inputRows, C, rng);
  }
  return to === from ? null : { from, to };
}

// Appends rows drawn from N(0, std) to a (V, C) weight, keeping its precision (bf16 stays bf16).
function growRows(t: Tensor, rows: number, std: number, rng: Rng): void {
  const [V, C] = t.shape;
  const data = new Float32Array(rows * C); // (rows, C)
  data.set(t.values());
  for (let i = V * C; i < data.length; i++) data[i] = rng.nextNormal() * std;
  setValues(t, data, [rows, C]);
}

// Sets `rows` of t by the configured method; `baseline`: the mean runs over rows [0, baseline) (LLaMA-Factory's
// tail-slice fallback), else over every row outside `rows`.
function initRows(
  t: Tensor, rows: number[], baseline: number | null, growth: VocabGrowth, inputRows: Float32Array, C: number, rng: Rng,
): void {
  const values = t.values(); // (V, C)
  const V = values.length / C;
  const outside = baseline === null ? exclude(V, rows) : range(0, baseline);
  const fallback = meanOfRows(values, C, outside);
  const describe = growth.init !== 'noise_init' && growth.descriptions !== null;
  const noisy = growth.init !== 'desc_init' || !describe;
  const sigma = 1 / Math.sqrt(C);
  const newIds = new Set(rows);
  for (const row of rows) {
    let base = fallback;
    if (describe) {
      const described = growth.descriptions?.get(row);
      if (described === undefined) continue; // LLaMA-Factory initialises only the tokens its descriptions name
      const valid = described.filter((id) => !newIds.has(id) && id >= 0 && id < V);
      if (valid.length > 0) base = meanOfRows(inputRows, C, valid);
    }
    for (let c = 0; c < C; c++) values[row * C + c] = base[c] + (noisy ? rng.nextNormal() * sigma : 0);
  }
  setValues(t, values, t.shape);
}

// The mean of the listed rows of a (V, C) matrix, summed in float64 and rounded once. (C)
export function meanOfRows(values: Float32Array, C: number, rows: number[]): Float32Array {
  const sum = new Float64Array(C);
  for (const row of rows) for (let c = 0; c < C; c++) sum[c] += values[row * C + c];
  return Float32Array.from(sum, (s) => s / rows.length);
}

function setValues(t: Tensor, data: Float32Array, shape: number[]): void {
  t.shape = shape.slice();
  if (t.bf16 !== null) t.bf16 = f32ToBf16(data);
  else t.data = data;
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

function exclude(V: number, rows: number[]): number[] {
  const skip = new Set(rows);
  return range(0, V).filter((i) => !skip.has(i));
}

