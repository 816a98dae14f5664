// The Llama-family decoder (Llama, Qwen2, Qwen3, Mistral share it; config.ts records where they differ): token
// embedding, pre-norm decoder layers with residuals, a final RMSNorm and the LM head, plus HF's causal-LM loss.

import { RetuneError } from '../util/errors.js';
import type { Attention, Embedding, LayerKVCache, Linear, MLP, RMSNorm } from '../nn/index.js';
import { checkpoint, dropUntilBackward } from '../tensor/autograd.js';
import { linearCrossEntropy } from '../tensor/linear-cross-entropy.js';
import { sequenceLogProbs } from '../tensor/sequence-logprobs.js';
import { add, crossEntropy, reshape } from '../tensor/ops.js';
import { Tensor } from '../tensor/tensor.js';
import type { ModelConfig } from './config.js';
import { rowPositions, type DecodeCache } from './kv-cache.js';

export class DecoderLayer {
  inputLayernorm: RMSNorm;
  selfAttn: Attention;
  postAttentionLayernorm: RMSNorm;
  mlp: MLP;

  constructor(parts: { inputLayernorm: RMSNorm; selfAttn: Attention; postAttentionLayernorm: RMSNorm; mlp: MLP }) {
    this.inputLayernorm = parts.inputLayernorm;
    this.selfAttn = parts.selfAttn;
    this.postAttentionLayernorm = parts.postAttentionLayernorm;
    this.mlp = parts.mlp;
  }

  // x (B, T, C) -> (B, T, C); window: this layer's sliding window (null: none)
  forward(
    x: Tensor, positions: Int32Array, segments: Int32Array | null, cache: LayerKVCache | null, window: number | null = null,
  ): Tensor {
    // Each normed input feeds only its block's projections, whose backward rules read it again (LoRA's dA): it is
    // made again from x then (autograd.ts, dropUntilBackward) rather than kept, (B, T, C) per norm.
    const normed = this.inputLayernorm.forward(x);
    const h = add(x, this.selfAttn.forward(normed, positions, segments, cache, window));
    dropUntilBackward(normed);
    const normed2 = this.postAttentionLayernorm.forward(h);
    const y = add(h, this.mlp.forward(normed2));
    dropUntilBackward(normed2);
    return y;
  }

  // HF's module order, so namedParameters() lists tensors as torch's named_parameters() does.
  namedParameters(prefix: string): [string, Tensor][] {
    return [
      ...this.selfAttn.namedParameters(`${prefix}.self_attn`),
      ...this.mlp.namedParameters(`${prefix}.mlp`),
      ...this.inputLayernorm.namedParameters(`${prefix}.input_layernorm`),
      ...this.postAttentionLayernorm.namedParameters(`${prefix}.post_attention_layernorm`),
    ];
  }
}

export interface ForwardOptions {
  positions?: Int32Array; // (B*T); default 0..T-1 per row, after what the cache holds
  segments?: Int32Array; // (B*T) packed-sample ids: tokens attend only within their segment
  cache?: DecodeCache; // generation: T new tokens attend to the cached ones, and are appended to the cache
  lastLogits?: boolean; // only the last position's logits (B, 1, V); inference only
  rows?: Int32Array; // only these token rows' logits (rows of the B*T), (R, 1, V); inference only
}

export interface LossOptions {
  normalizer?: number;
  positions?: Int32Array;
  segments?: Int32Array;
}

export class CausalLM {
  config: ModelConfig;
  embedTokens: Embedding;
  layers: DecoderLayer[];
  norm: RMSNorm;
  lmHead: Linear; // shares embedTokens.weight when tie_word_embeddings
  // Recompute each layer's activations during backward instead of keeping them (training option).
  gradientCheckpointing = false;
  generationConfig: Record<string, unknown> | null = null; // generation_config.json, kept for saving

  constructor(config: ModelConfig, parts: { embedTokens: Embedding; layers: DecoderLayer[]; norm: RMSNorm; lmHead: Linear }) {
    this.config = config;
    this.embedTokens = parts.embedTokens;
    this.layers = parts.layers;
    this.norm = parts.norm;
    this.lmHead = parts.lmHead;
  }

  // ids (B*T) -> logits (B, T, V)
  forward(ids: Int32Array, B: number, T: number, opts: ForwardOptions = {}): Tensor {
    return this.lmHead.forward(this.hidden(ids, B, T, opts)); // (B, T, V)
  }

  // ids (B*T) -> final hidden states (B, T, C), after the last norm and before the LM head (a reward model's value
  // head reads them)
  hidden(ids: Int32Array, B: number, T: number, opts: ForwardOptions): Tensor {
    if (ids.length !== B * T) throw new RetuneError(`CausalLM.forward: ${ids.length} ids for B=${B}, T=${T}`);
    const cache = opts.cache ?? null;
    if (cache !== null && cache.B !== B) throw new RetuneError(`CausalLM.forward: cache holds batch ${cache.B}, got B=${B}`);
    if (cache !== null && opts.segments !== undefined) throw new RetuneError('CausalLM.forward: segments cannot be combined with a KV cache');
    const positions = opts.positions ?? (cache === null ? rowPositions(B, T, 0) : cache.positions(T));
    if (positions.length !== B * T) throw new RetuneError(`CausalLM.forward: ${positions.length} positions for B*T = ${B * T}`);
    const segments = opts.segments ?? null;
    const { sliding_window: slidingWindow, sliding_layers: slidingLayers } = this.config;

    let x = this.embedTokens.forward(ids, [B, T]); // (B, T, C)
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const window = slidingLayers[i] ? slidingWindow : null;
      if (this.gradientCheckpointing && cache === null) {
        x = checkpoint(([h]) => layer.forward(h, positions, segments, null, window), [x]);
      } else {
        x = layer.forward(x, positions, segments, cache === null ? null : cache.layer(i), window);
      }
    }
    x = this.norm.forward(x);
    if (opts.rows !== undefined) x = pickRows(x, opts.rows);
    else if (opts.lastLogits) x = pickRows(x, Int32Array.from({ length: B }, (_, b) => b * T + T - 1));
    return x;
  }

  // HF's causal-LM loss: position t predicts labels[t + 1] (the shift happens here), -100 is ignored, and the sum is
  // divided by `normalizer` (default: the number of counted targets).
  loss(ids: Int32Array, labels: Int32Array, B: number, T: number, opts: LossOptions = {}): Tensor {
    if (labels.length !== B * T) throw new RetuneError(`CausalLM.loss: ${labels.length} labels for B=${B}, T=${T}`);
    const targets = shiftLabels(labels, B, T);
    const normalizer = opts.normalizer ?? countTargets(targets);
    if (normalizer === 0) throw new RetuneError('CausalLM.loss: every label is -100, so there is no target to average over');
    const forwardOpts = { positions: opts.positions, segments: opts.segments };
    // A plain head goes through the fused op, which never holds the (B*T, V) logits nor their gradient.
    if (this.lmHead.adapter === null && this.lmHead.bias === null) {
      return linearCrossEntropy(this.hidden(ids, B, T, forwardOpts), this.lmHead.weight, targets, normalizer);
    }
    const logits = this.forward(ids, B, T, forwardOpts); // (B, T, V)
    return crossEntropy(reshape(logits, [B * T, this.config.vocab_size]), targets, normalizer);
  }

  // Each row's summed log-probability of its shifted labels (-100 skipped): (B). Preference losses are built on it.
  sequenceLogProbs(ids: Int32Array, labels: Int32Array, B: number, T: number): Tensor {
    if (labels.length !== B * T) throw new RetuneError(`CausalLM.sequenceLogProbs: ${labels.length} labels for B=${B}, T=${T}`);
    if (this.lmHead.adapter !== null || this.lmHead.bias !== null) {
      throw new RetuneError('preference training needs a plain lm_head: remove lm_head from lora_target');
    }
    return sequenceLogProbs(this.hidden(ids, B, T, {}), this.lmHead.weight, shiftLabels(labels, B, T));
  }

  // HF names in torch's order; a tied lm_head is not listed (it is model.embed_tokens.weight).
  namedParameters(): Map<string, Tensor> {
    const out: [string, Tensor][] = [...this.embedTokens.namedParameters('model.embed_tokens')];
    this.layers.forEach((layer, i) => out.push(...layer.namedParameters(`model.layers.${i}`)));
    out.push(...this.norm.namedParameters('model.norm'));
    if (this.lmHead.weight !== this.embedTokens.weight) out.push(...this.lmHead.namedParameters('lm_head'));
    return new Map(out);
  }
}

// targets[b, t] = labels[b, t + 1]; the last position of each row has nothing to predict.
export function shiftLabels(labels: Int32Array, B: number, T: number): Int32Array {
  const targets = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) targets.set(labels.subarray(b * T + 1, (b + 1) * T), b * T);
  return targets;
}

function countTargets(targets: Int32Array): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== -100) n++;
  return n;
}

// x (B, T, C) -> (R, 1, C), the token rows listed: a copy, since no op slices; generation runs without the tape, so
// nothing is lost.
function pickRows(x: Tensor, rows: Int32Array): Tensor {
  if (x.requiresGrad) throw new RetuneError('CausalLM.forward: lastLogits and rows are for inference; run it under noGrad()');
  const C = x.shape[2];
  const N = x.shape[0] * x.shape[1];
  const out = new Float32Array(rows.length * C);
  rows.forEach((r, i) => {
    if (!(r >= 0 && r < N)) throw new RetuneError(`CausalLM.forward: row ${r} is outside the ${N} token rows`);
    out.set(x.data.subarray(r * C, (r + 1) * C), i * C);
  });
  return new Tensor(out, [rows.length, 1, C]);
}
