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

function sample(logits: Float32Array, s: Settings, rng: Rng): number {
  const V = logits.length;
  for (let i = 0; i < V; i++) logits[i] /= s.temperature;
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b); // descending
  const keep = new Uint8Array(V).fill(1);
  // top-k keeps every token scoring at least the k-th best (ties included), as transformers' TopKLogitsWarper.
  if (s.topK > 0 && s.topK < V) {
    const threshold = logits[order[s.topK - 1]];
    for (let i = 0; i < V; i++) if (logits[i] < threshold) keep[i] = 0;
  }
  const probs = softmax(logits, keep);
  // top-p as transformers' TopPLogitsWarper: walking up from the least likely token, drop tokens while the running
  // sum stays <= 1 - top_p; the most likely token always stays.
  if (s.topP < 1) {
    let cumulative = 0;
    for (let r = V - 1; r > 0; r--) {
      const id = order[r];
      cumulative += probs[id];
      if (cumulative <= 1 - s.topP) keep[id] = 0;
      else break;
    }
  }
  const final = softmax(logits, keep);
  let u = rng.nextFloat();
  let last = order[0];
  for (const id of order) {
    if (!keep[id]) continue;
    u -= final[id];
    if (u < 0) return id;
    last = id;
  }
  return last; // u outlived the sum only by rounding
}

// Probabilities over the kept tokens (float64 for a stable running sum); dropped tokens get 0.
function softmax(logits: Float32Array, keep: Uint8Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (keep[i] && logits[i] > max) max = logits[i];
  const p = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    if (!keep[i]) continue;
    p[i] = Math.exp(logits[i] - max);
    sum += p[i];
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}
