// Keys and values of every token seen so far, one slot per decoder layer, so each generation step runs the model on
// the new tokens only. Buffers grow by doubling; a slot hands attention a (B, Tall, nKV, hd) view of what it holds.

import { RetuneError } from '../util/errors.js';
import type { LayerKVCache } from '../nn/attention.js';
import { attentionCached } from '../tensor/decode.js';
import { Tensor } from '../tensor/tensor.js';

// What CausalLM.forward needs of a cache: its batch, the positions of T new tokens per row, and one slot per layer.
export interface DecodeCache {
  readonly B: number;
  positions(T: number): Int32Array; // (B*T)
  layer(i: number): LayerKVCache;
}

class LayerSlot implements LayerKVCache {
  private k = new Float32Array(0); // (B, capacity, nKV, hd)
  private v = new Float32Array(0);
  private capacity = 0;
  length = 0;

  constructor(
    private readonly B: number,
    private readonly rowSize: number, // nKV * hd
  ) {}

  attend(q: Tensor, k: Tensor, v: Tensor, scale: number, window: number | null): Tensor {
    const all = this.append(k, v);
    return attentionCached(q, all.k, all.v, scale, window);
  }

  // k, v (B, Tnew, nKV, hd) -> every key and value so far (B, Tall, nKV, hd)
  private append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const [B, Tnew] = k.shape;
    const row = this.rowSize;
    if (B !== this.B || k.size !== B * Tnew * row || v.size !== k.size) {
      throw new RetuneError(`KVCache: keys [${k.shape.join(', ')}] do not fit a cache of batch ${this.B} and ${row} values per token`);
    }
    const Tall = this.length + Tnew;
    if (Tall > this.capacity) this.grow(Math.max(Tall, 2 * this.capacity, 16));
    for (let b = 0; b < B; b++) {
      const dst = (b * this.capacity + this.length) * row;
      this.k.set(k.data.subarray(b * Tnew * row, (b + 1) * Tnew * row), dst);
      this.v.set(v.data.subarray(b * Tnew * row, (b + 1) * Tnew * row), dst);
    }
    this.length = Tall;
    const shape = [B, Tall, ...k.shape.slice(2)];
    return { k: new Tensor(this.packed(this.k, Tall), shape), v: new Tensor(this.packed(this.v, Tall), shape) };
  }

  private grow(capacity: number): void {
    const row = this.rowSize;
    const k = new Float32Array(this.B * capacity * row);
    const v = new Float32Array(this.B * capacity * row);
    for (let b = 0; b < this.B; b++) {
      k.set(this.k.subarray(b * this.capacity * row, (b * this.capacity + this.length) * row), b * capacity * row);
      v.set(this.v.subarray(b * this.capacity * row, (b * this.capacity + this.length) * row), b * capacity * row);
    }
    this.k = k;
    this.v = v;
    this.capacity = capacity;
  }

  // With one sequence the filled prefix is already contiguous; otherwise rows are gathered.
  private packed(buf: Float32Array, T: number): Float32Array {
    const row = this.rowSize;
    if (this.B === 1) return buf.subarray(0, T * row);
    const out = new Float32Array(this.B * T * row);
    for (let b = 0; b < this.B; b++) out.set(buf.subarray(b * this.capacity * row, (b * this.capacity + T) * row), b * T * row);
    return out;
  }
}

export class KVCache implements DecodeCache {
  readonly B: number;
  private readonly slots: LayerSlot[];

  constructor(opts: { nLayers: number; B: number; nKV: number; hd: number }) {
    this.B = opts.B;
    this.slots = Array.from({ length: opts.nLayers }, () => new LayerSlot(opts.B, opts.nKV * opts.hd));
  }

  // Tokens cached per sequence; the next token's position.
  get length(): number {
    return this.slots[0].length;
  }

  positions(T: number): Int32Array {
    return rowPositions(this.B, T, this.length);
  }

  layer(i: number): LayerKVCache {
    return this.slots[i];
  }
}

// (B*T) positions past..past+T-1 in every row
export function rowPositions(B: number, T: number, past: number): Int32Array {
  const positions = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = past + t;
  return positions;
}
