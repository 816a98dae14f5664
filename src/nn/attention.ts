// Causal self-attention of Llama/Qwen2/Qwen3/Mistral: q/k/v projections (q/k/v bias in Qwen2), optional per-head
// RMSNorm of q and k before RoPE (Qwen3), grouped-query heads, and the output projection.
import { RetuneError } from '../util/errors.js';
import { dropUntilBackward } from '../tensor/autograd.js';
import { attention, reshape, rope } from '../tensor/ops.js';
import type { RopeTable } from '../tensor/rope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Linear } from './linear.js';
import type { RMSNorm } from './rmsnorm.js';

// One layer's slot in a generation KV cache: stores the new keys and values (B, Tnew, nKV, hd) and returns the new
// queries (B, Tnew, nHead, hd) attended over everything stored so far (B, Tnew, nHead, hd). The cache does the
// attention because only it knows how its rows are laid out (one shared length, or one length per sequence).
export interface LayerKVCache {
  attend(q: Tensor, k: Tensor, v: Tensor, scale: number, window: number | null): Tensor;
}

export interface AttentionParts {
  qProj: Linear; // (nHead*hd, C)
  kProj: Linear; // (nKV*hd, C)
  vProj: Linear; // (nKV*hd, C)
  oProj: Linear; // (C, nHead*hd)
  qNorm: RMSNorm | null; // (hd), Qwen3
  kNorm: RMSNorm | null;
  nHead: number;
  nKV: number;
  hd: number;
  rope: RopeTable;
}

export class Attention {
  qProj: Linear;
  kProj: Linear;
  vProj: Linear;
  oProj: Linear;
  qNorm: RMSNorm | null;
  kNorm: RMSNorm | null;
  readonly nHead: number;
  readonly nKV: number;
  readonly hd: number;
  readonly rope: RopeTable;
  readonly scale: number;

  constructor(p: AttentionParts) {
    if (p.nHead % p.nKV !== 0) throw new RetuneError(`Attention: num_attention_heads ${p.nHead} is not a multiple of num_key_value_heads ${p.nKV}`);
    if (p.qProj.outFeatures !== p.nHead * p.hd || p.kProj.outFeatures !== p.nKV * p.hd || p.vProj.outFeatures !== p.nKV * p.hd) {
      throw new RetuneError(`Attention: q/k/v projection sizes do not match nHead=${p.nHead}, nKV=${p.nKV}, head_dim=${p.hd}`);
    }
    this.qProj = p.qProj;
    this.kProj = p.kProj;
    this.vProj = p.vProj;
    this.oProj = p.oProj;
    this.qNorm = p.qNorm;
    this.kNorm = p.kNorm;
    this.nHead = p.nHead;
    this.nKV = p.nKV;
    this.hd = p.hd;
    this.rope = p.rope;
    this.scale = p.hd ** -0.5;
  }

  // x (B, T, C), positions (B*T), segments (B*T) or null -> (B, T, C). With a cache, T new tokens attend to
  // everything cached before them (inference only). window: sliding-window attention over the last `window` tokens
  // (token indices, as transformers' mask), null for plain causal.
  forward(
    x: Tensor, positions: Int32Array, segments: Int32Array | null, cache: LayerKVCache | null = null,
    window: number | null = null,
  ): Tensor {
    const [B, T] = x.shape;
    const { nHead, nKV, hd } = this;
    let q = reshape(this.qProj.forward(x), [B, T, nHead, hd]);
    let k = reshape(this.kProj.forward(x), [B, T, nKV, hd]);
    let v = reshape(this.vProj.forward(x), [B, T, nKV, hd]);
    if (this.qNorm !== null) q = this.qNorm.forward(q);
    if (this.kNorm !== null) k = this.kNorm.forward(k);
    q = rope(q, positions, this.rope);
    k = rope(k, positions, this.rope);
    let y: Tensor; // (B, T, nHead, hd)
    if (cache === null) {
      y = attention(q, k, v, { scale: this.scale, segments, window });
      // The rotated q and k are read again only by attention's backward: made again from q and k then.
      dropUntilBackward(q);
      dropUntilBackward(k);
    } else {
      y = cache.attend(q, k, v, this.scale, window);
    }
    return this.oProj.forward(reshape(y, [B, T, nHead * hd]));
  }

  namedParameters(prefix: string): [string, Tensor][] {
    const out = [
      ...this.qProj.namedParameters(`${prefix}.q_proj`),
      ...this.kProj.namedParameters(`${prefix}.k_proj`),
      ...this.vProj.namedParameters(`${prefix}.v_proj`),
      ...this.oProj.namedParameters(`${prefix}.o_proj`),
    ];
    if (this.qNorm !== null) out.push(...this.qNorm.namedParameters(`${prefix}.q_norm`));
    if (this.kNorm !== null) out.push(...this.kNorm.namedParameters(`${prefix}.k_norm`));
    return out;
  }
}
