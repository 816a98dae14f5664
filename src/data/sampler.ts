// The training data order. Sample-based, not step-based: the cursor counts samples taken in the current epoch, so a
// resumed run with a different batch size or accumulation continues from the same sample. The order of epoch e is a
// pure function of (seed, e), so nothing but { epoch, consumed } needs saving.

import { UsageError } from '../util/errors.js';
import { Rng, permutation } from '../tensor/random.js';

export interface SamplerState {
  epoch: number;
  consumed: number;
}

// Keeps epoch orders apart from every other stream drawn from the same user seed (splits, mixing).
const EPOCH_STREAM = 0x5a3b0000;

export class Sampler {
  readonly size: number;
  readonly seed: number;
  readonly shuffle: boolean;
  private epoch = 0;
  private consumed = 0;
  private order: Int32Array | null = null;
  private orderEpoch = -1;

  constructor(size: number, seed: number, shuffle: boolean) {
    if (!Number.isInteger(size) || size <= 0) throw new UsageError(`Sampler: the dataset is empty (size ${size})`);
    this.size = size;
    this.seed = seed;
    this.shuffle = shuffle;
  }

  // The full order of one epoch; identical for equal (seed, epoch) in any process.
  epochOrder(epoch: number): Int32Array {
    if (this.orderEpoch === epoch && this.order) return this.order;
    let order: Int32Array;
    if (this.shuffle) {
      order = permutation(this.size, new Rng(this.seed, EPOCH_STREAM + epoch));
    } else {
      order = new Int32Array(this.size);
      for (let i = 0; i < this.size; i++) order[i] = i;
    }
    this.order = order;
    this.orderEpoch = epoch;
    return order;
  }

  // The next `count` sample indices, running into the next epoch when this one is used up.
  next(count: number): number[] {
    const out: number[] = [];
    while (out.length < count) {
      const order = this.epochOrder(this.epoch);
      const take = Math.min(count - out.length, this.size - this.consumed);
      for (let i = 0; i < take; i++) out.push(order[this.consumed + i]);
      this.consumed += take;
      if (this.consumed === this.size) {
        this.epoch += 1;
        this.consumed = 0;
      }
    }
    return out;
  }

  state(): SamplerState {
    return { epoch: this.epoch, consumed: this.consumed };
  }

  restore(state: SamplerState): void {
    const { epoch, consumed } = state;
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(consumed) || consumed < 0 || consumed > this.size) {
      throw new UsageError(
        `Sampler.restore: invalid data cursor { epoch: ${epoch}, consumed: ${consumed} } for a dataset of ${this.size} samples`,
      );
    }
    this.epoch = epoch;
    this.consumed = consumed;
    if (consumed === this.size) {
      this.epoch += 1;
      this.consumed = 0;
    }
  }
}
