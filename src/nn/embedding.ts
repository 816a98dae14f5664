// Token embedding: a (V, C) table gathered by ids.
import { RetuneError } from '../util/errors.js';
import { embedding } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';

export class Embedding {
  weight: Tensor; // (V, C)

  constructor(weight: Tensor) {
    if (weight.shape.length !== 2) throw new RetuneError(`Embedding: weight must be (V, C), got [${weight.shape.join(', ')}]`);
    this.weight = weight;
  }

  // ids (B*T) -> (B, T, C) for shape [B, T]
  forward(ids: Int32Array, shape: number[]): Tensor {
    return embedding(this.weight, ids, shape);
  }

  namedParameters(prefix: string): [string, Tensor][] {
    return [[`${prefix}.weight`, this.weight]];
  }
}
