// The gated feed-forward block of Llama/Qwen/Mistral: down(silu(gate(x)) * up(x)).
import { dropUntilBackward } from '../tensor/autograd.js';
import { swiglu } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Linear } from './linear.js';

export class MLP {
  gateProj: Linear; // (I, C)
  upProj: Linear; // (I, C)
  downProj: Linear; // (C, I)

  constructor(parts: { gateProj: Linear; upProj: Linear; downProj: Linear }) {
    this.gateProj = parts.gateProj;
    this.upProj = parts.upProj;
    this.downProj = parts.downProj;
  }

  // x (B, T, C) -> (B, T, C)
  forward(x: Tensor): Tensor {
    const h = swiglu(this.gateProj.forward(x), this.upProj.forward(x)); // (B, T, I)
    const y = this.downProj.forward(h);
    // h is the widest activation a step keeps (I is ~5x C); backward makes it again from gate and up, which the
    // SwiGLU's own backward keeps anyway.
    dropUntilBackward(h);
    return y;
  }

  namedParameters(prefix: string): [string, Tensor][] {
    return [
      ...this.gateProj.namedParameters(`${prefix}.gate_proj`),
      ...this.upProj.namedParameters(`${prefix}.up_proj`),
      ...this.downProj.namedParameters(`${prefix}.down_proj`),
    ];
  }
}
