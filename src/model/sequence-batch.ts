// One decode step over several sequences of different lengths: each brings its own single-row KVCache, the batch
// runs every projection and MLP once for all of them (the weights are read once per step, not once per sequence),
// and only attention goes row by row, each new token attending over its own sequence's keys.

import { RetuneError } from '../util/errors.js';
import type { LayerKVCache } from '../nn/attention.js';
import { Tensor } from '../tensor/tensor.js';
import type { DecodeCache, KVCache } from './kv-cache.js';

export class SequenceBatch implements DecodeCache {
  readonly B: number;

  constructor(private readonly caches: KVCache[]) {
    if (caches.some((c) => c.B !== 1)) throw new RetuneError('SequenceBatch: every sequence needs a cache of batch 1');
    this.B = caches.length;
  }

  // One new token per sequence, at the position after what its cache holds.
  positions(T: number): Int32Array {
    if (T !== 1) throw new RetuneError(`SequenceBatch: one new token per sequence, got T=${T}`);
    return Int32Array.from(this.caches, (c) => c.length);
  }

  layer(i: number): LayerKVCache {
    return { attend: (q, k, v, scale, window) => this.attendRows(i, q, k, v, scale, window) };
  }

  // q (B, 1, nHead, hd), k, v (B, 1, nKV, hd) -> (B, 1, nHead, hd)
  private attendRows(i: number, q: Tensor, k: Tensor, v: Tensor, scale: number, window: number | null): Tensor {
    const [B, T, nHead, hd] = q.shape;
    const nKV = k.shape[2];
    if (B !== this.B || T !== 1) throw new RetuneError(`SequenceBatch: queries [${q.shape.join(', ')}] for ${this.B} sequences`);
    const qRow = nHead * hd;
    const kRow = nKV * hd;
    const out = new Float32Array(B * qRow);
    for (let b = 0; b < B; b++) {
      const y = this.caches[b].layer(i).attend(
        new Tensor(q.data.subarray(b * qRow, (b + 1) * qRow), [1, 1, nHead, hd]),
        new Tensor(k.data.subarray(b * kRow, (b + 1) * kRow), [1, 1, nKV, hd]),
        new Tensor(v.data.subarray(b * kRow, (b + 1) * kRow), [1, 1, nKV, hd]),
        scale, window,
      );
      out.set(y.data, b * qRow);
    }
    return new Tensor(out, q.shape);
  }
}
