// y = x @ W^T + b in HF layout, plus an optional adapter (LoRA, DoRA) that sees the input and the base output, so
// adapters plug in without nn knowing about them.
import { RetuneError } from '../util/errors.js';
import { linear } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';

export interface LinearAdapter {
  forward(x: Tensor, baseOutput: Tensor): Tensor;
  parameters(): Map<string, Tensor>;
}

export class Linear {
  weight: Tensor; // (out, in)
  bias: Tensor | null; // (out)
  adapter: LinearAdapter | null = null;

  constructor(weight: Tensor, bias: Tensor | null = null) {
    if (weight.shape.length !== 2) throw new RetuneError(`Linear: weight must be (out, in), got [${weight.shape.join(', ')}]`);
    this.weight = weight;
    this.bias = bias;
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }

  get outFeatures(): number {
    return this.weight.shape[0];
  }

  // x (..., in) -> (..., out)
  forward(x: Tensor): Tensor {
    const base = linear(x, this.weight, this.bias);
    return this.adapter === null ? base : this.adapter.forward(x, base);
  }

  // Base weights only, with HF names; adapter tensors are listed by the adapter itself.
  namedParameters(prefix: string): [string, Tensor][] {
    const out: [string, Tensor][] = [[`${prefix}.weight`, this.weight]];
    if (this.bias !== null) out.push([`${prefix}.bias`, this.bias]);
    return out;
  }
}
