// RMSNorm as in HF Llama/Qwen: x / sqrt(mean(x^2) + eps) * weight over the last dim.
import { RetuneError } from '../util/errors.js';
import { rmsnorm } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';

export class RMSNorm {
  weight: Tensor; // (C)
  eps: number;

  constructor(weight: Tensor, eps: number) {
    if (weight.shape.length !== 1) throw new RetuneError(`RMSNorm: weight must be 1-D, got [${weight.shape.join(', ')}]`);
    this.weight = weight;
    this.eps = eps;
  }

  // x (..., C) -> (..., C)
  forward(x: Tensor): Tensor {
    return rmsnorm(x, this.weight, this.eps);
  }

  namedParameters(prefix: string): [string, Tensor][] {
    return [[`${prefix}.weight`, this.weight]];
  }
}
