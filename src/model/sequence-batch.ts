// One forward over several sequences of different lengths, each with its own single-row KVCache: every projection
// and MLP runs once for all their tokens (the weights are read once per step, not once per sequence), and only
// attention goes sequence by sequence, each sequence's new tokens attending over its own cache. A decode step gives
// each sequence one new token, laid out (B, 1); a batched prefill packs the prompts' tokens one after another into a
// single row (1, sum of lengths), so prompts of different lengths need no padding and no mask.

import { RetuneError } from '../util/errors.js';
import type { LayerKVCache } from '../nn/attention.js';
import { Tensor } from '../tensor/tensor.js';
import type { DecodeCache, KVCache } from './kv-cache.js';

export class SequenceBatch implements DecodeCache {
  readonly B: number;
  private readonly counts: number[];

  // counts: new tokens per sequence (default one each: a decode step).
  constructor(
    private readonly caches: KVCache[],
    counts?: number[],
  ) {
    if (caches.some((c) => c.B !== 1)) throw new RetuneError('SequenceBatch: every sequence needs a cache of batch 1');
    this.counts = counts ?? caches.map(() => 1);
    if (this.counts.length !== caches.length || this.counts.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new RetuneError(`SequenceBatch: ${this.counts.length} token counts for ${caches.length} sequences; each needs at least one token`);
    }
    this.B = this.counts.every((n) => n === 1) ? caches.length : 1;
  }

  // Token rows (in the forward's B*T order) where each sequence's new tokens end: their logits pick the next tokens.
  lastRows(): Int32Array {
    let end = 0;
    return Int32Array.from(this.counts, (n) => (end += n) - 1);
  }

  // Each sequence's new tokens at the positions after what its cache holds, in sequence order.
  positions(T: number): Int32Array {
    const total = this.counts.reduce((a, n) => a + n, 0);
    if (this.B * T !== total) throw new RetuneError(`SequenceBatch: ${total} new tokens over ${this.caches.length} sequences, got B=${this.B}, T=${T}`);
    const out = new Int32Array(total);
    let at = 0;
    this.caches.forEach((c, s) => {
      for (let t = 0; t < this.counts[s]; t++) out[at++] = c.length + t;
    });
    return out;
  }

  layer(i: number): LayerKVCache {
    return { attend: (q, k, v, scale, window) => this.attendRows(i, q, k, v, scale, window) };
  }

  // q (B, T, nHead, hd), k, v (B, T, nKV, hd) with B*T = the new tokens of every sequence -> (B, T, nHead, hd)
  private attendRows(i: number, q: Tensor, k: Tensor, v: Tensor, scale: number, window: number | null): Tensor {
    const [B, T, nHead, hd] = q.shape;
    const nKV = k.shape[2];
    if (B !== this.B) throw new RetuneError(`SequenceBatch: queries [${q.shape.join(', ')}] for ${this.caches.length} sequences`);
    const qRow = nHead * hd;
    const kRow = nKV * hd;
    const out = new Float32Array(B * T * qRow);
    let t0 = 0;
    this.caches.forEach((cache, s) => {
      const t1 = t0 + this.counts[s];
      const y = cache.layer(i).attend(
        new Tensor(q.data.subarray(t0 * qRow, t1 * qRow), [1, t1 - t0, nHead, hd]),
        new Tensor(k.data.subarray(t0 * kRow, t1 * kRow), [1, t1 - t0, nKV, hd]),
        new Tensor(v.data.subarray(t0 * kRow, t1 * kRow), [1, t1 - t0, nKV, hd]),
        scale, window,
      );
      out.set(y.data, t0 * qRow);
      t0 = t1;
    });
    return new Tensor(out, q.shape);
  }
}
