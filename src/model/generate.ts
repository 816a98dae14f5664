// Autoregressive decoding with a KV cache: the prompt runs once, then one token per step. Logits go through
// transformers' processors in its order (repetition penalty, temperature, top-k, top-p) before the pick, so greedy
// decoding and the penalty rule match `model.generate`. Sampling draws from a seeded generator: the same seed and
// inputs give the same tokens.

import { UsageError } from '../util/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { Rng } from '../tensor/random.js';
import type { CausalLM } from './causal-lm.js';
import { KVCache } from './kv-cache.js';

export interface SamplingOptions {
  temperature?: number; // default 1; 0 means greedy
  topP?: number; // default 1 (off)
  topK?: number; // default 50 as transformers; 0 means off
  repetitionPenalty?: number; // default 1 (off)
  doSample?: boolean; // default: sample unless temperature is 0
  seed?: number;
  stream?: number; // which of the seed's independent random streams the draws come from (default 0)
  logitBias?: Map<number, number>; // token id -> added to its logit first (OpenAI's logit_bias; -100 bans a token)
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  stopIds?: number[]; // generation ends at the first of these; the stop token is not returned
  onToken?: (id: number) => boolean | void; // streaming; returning false stops generation after this token
}

// The new tokens (without the prompt and without the stop token).
export function generate(model: CausalLM, promptIds: number[], opts: GenerateOptions): number[] {
  const picker = new TokenPicker(model, promptIds, opts);
  const { num_hidden_layers: nLayers, num_key_value_heads: nKV, head_dim: hd } = model.config;
  const stop = new Set(opts.stopIds ?? []);
  const out: number[] = [];
  noGrad(() => {
    const cache = new KVCache({ nLayers, B: 1, nKV, hd });
    let input = Int32Array.from(promptIds);
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const next = picker.pick(model.forward(input, 1, input.length, { cache, lastLogits: true }).data); // (V)
      if (stop.has(next)) return;
      out.push(next);
      if (opts.onToken?.(next) === false) return;
      input = Int32Array.of(next);
    }
  });
  return out;
}

// One sequence's choice of its next token from the last position's logits: the processors, then greedy or a seeded
// draw. It remembers what it picked (the repetition penalty sees it), so each sequence of a batch keeps its own.
export class TokenPicker {
  private readonly settings: Settings;
  private readonly rng: Rng;
  private readonly seen: Set<number>;

  constructor(model: CausalLM, promptIds: number[], opts: SamplingOptions & { maxNewTokens: number }) {
    this.settings = checkOptions(model, promptIds, opts);
    this.rng = new Rng(opts.seed ?? Math.floor(Math.random() * 2 ** 32), opts.stream ?? 0);
    this.seen = new Set(promptIds);
  }

  // logits (V), overwritten by the processors
  pick(logits: Float32Array): number {
    for (const [id, bias] of this.settings.logitBias) logits[id] += bias;
    applyRepetitionPenalty(logits, this.seen, this.settings.repetitionPenalty);
    const next = this.settings.greedy ? argmax(logits) : sample(logits, this.settings, this.rng);
    this.seen.add(next);
    return next;
  }
}

// The end-of-sequence ids a model declares: generation_config.json's eos_token_id (what transformers' generate stops
// on) together with config.json's.
export function modelStopIds(model: CausalLM): number[] {
  const ids = new Set(model.config.eos_token_id);
  const fromGeneration = model.generationConfig?.eos_token_id;
  for (const id of Array.isArray(fromGeneration) ? fromGeneration : [fromGeneration]) {
    if (Number.isSafeInteger(id) && (id as number) >= 0) ids.add(id as number);
  }
  return [...ids];
}

interface Settings {
  logitBias: Map<number, number>;
  greedy: boolean;
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
}

function checkOptions(model: CausalLM, promptIds: number[], opts: SamplingOptions & { maxNewTokens: number }): Settings {
  const V = model.config.vocab_size;
  if (promptIds.length === 0) throw new UsageError('generate: the prompt is empty');
  const bad = promptIds.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= V);
  if (bad >= 0) throw new UsageError(`generate: prompt token ${promptIds[bad]} at position ${bad} is outside the vocabulary (0..${V - 1})`);
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
    throw new UsageError(`max_new_tokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  }
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  const topK = opts.topK ?? 50;
  const repetitionPenalty = opts.repetitionPenalty ?? 1;
  if (!(temperature >= 0)) throw new UsageError(`temperature must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new UsageError(`top_p must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(topK) || topK < 0) throw new UsageError(`top_k must be a non-negative integer, got ${topK}`);
  if (!(repetitionPenalty > 0)) throw new UsageError(`repetition_penalty must be > 0, got ${repetitionPenalty}`);
  const logitBias = opts.logitBias ?? new Map<number, number>();
  for (const [id, bias] of logitBias) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new UsageError(`logit_bias: ${id} is not a token id of this model (0..${V - 1})`);
    if (!(bias >= -100 && bias <= 100)) throw new UsageError(`logit_bias: the bias of token ${id} must be in [-100, 100], got ${bias}`);
  }
  const greedy = opts.doSample === false || temperature === 0;
  return { logitBias, greedy, temperature, topP, topK, repetitionPenalty };
}

// transformers' RepetitionPenaltyLogitsProcessor: every token already in the sequence (prompt included) has its
// logit divided by the penalty when positive and multiplied when negative, making it less likely either way.
function applyRepetitionPenalty(logits: Float32Array, seen: Set<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of seen) logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;
}

// First index of the maximum, as torch.argmax.
function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

// transformers' warpers in its order (temperature, top-k, top-p), then a draw walking the kept tokens from the most
// likely. Only the candidates are sorted: with top-k the tokens scoring at least the k-th best, with top-p alone those
// whose probability reaches (1 - top_p) / V (every token below it is among the least likely that top-p drops, since
// together they hold less than 1 - top_p), so a 151,936-token vocabulary is scanned, not sorted, each step.
function sample(logits: Float32Array, s: Settings, rng: Rng): number {
  const V = logits.length;
  for (let i = 0; i < V; i++) logits[i] /= s.temperature;
  // top-k keeps every token scoring at least the k-th best (ties included), as transformers' TopKLogitsWarper.
  const topK = s.topK > 0 && s.topK < V;
  const floor = !topK && s.topP < 1 ? probabilityFloor(logits, (1 - s.topP) / V) : null;
  const order = candidates(logits, topK ? kthLargest(logits, s.topK) : floor?.logit ?? -Infinity); // descending, ties by id
  const probs = softmax(logits, order);
  let last = order.length;
  // top-p as transformers' TopPLogitsWarper: walking up from the least likely token, drop tokens while the running
  // sum (from the mass the floor left out) stays <= 1 - top_p; the most likely token always stays.
  if (s.topP < 1) {
    const total = floor === null ? probs.total : floor.total;
    let cumulative = floor === null ? 0 : 1 - probs.total / floor.total;
    for (let r = order.length - 1; r > 0; r--) {
      cumulative += probs[r] / total;
      if (cumulative <= 1 - s.topP) last = r;
      else break;
    }
  }
  const final = softmax(logits, order.subarray(0, last));
  let u = rng.nextFloat();
  for (let r = 0; r < last; r++) {
    u -= final[r] / final.total;
    if (u < 0) return order[r];
  }
  return order[last - 1]; // u outlived the sum only by rounding
}

// The k-th largest value of x (k <= x.length): a sorted list of the best k seen so far, which few values enter.
function kthLargest(x: Float32Array, k: number): number {
  const best = Array.from(x.subarray(0, k)).sort((a, b) => b - a);
  for (let i = k; i < x.length; i++) {
    const v = x[i];
    if (!(v > best[k - 1])) continue;
    let j = k - 1;
    while (j > 0 && best[j - 1] < v) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = v;
  }
  return best[k - 1];
}

// The logit whose probability (softmax over all of x) is p, and the softmax's sum of exp(x - max).
function probabilityFloor(x: Float32Array, p: number): { logit: number; total: number } {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let total = 0;
  for (let i = 0; i < x.length; i++) total += Math.exp(x[i] - max);
  return { logit: max + Math.log(p * total), total };
}

// Ids of the logits >= threshold, most likely first (ties by id).
function candidates(logits: Float32Array, threshold: number): Int32Array {
  let n = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i] >= threshold) n++;
  const ids = new Int32Array(n);
  n = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i] >= threshold) ids[n++] = i;
  return ids.sort((a, b) => logits[b] - logits[a] || a - b);
}

// Unnormalized probabilities of the listed ids, exp(logit - max), with their float64 sum in `total`.
function softmax(logits: Float32Array, ids: Int32Array): Float64Array & { total: number } {
  const p = new Float64Array(ids.length) as Float64Array & { total: number };
  const max = ids.length > 0 ? logits[ids[0]] : 0;
  let total = 0;
  for (let r = 0; r < ids.length; r++) {
    p[r] = Math.exp(logits[ids[r]] - max);
    total += p[r];
  }
  p.total = total;
  return p;
}
