// The reward model's value head: TRL's ValueHead summary layer, Linear(hidden, 1) with bias, on the final hidden
// state. Saved as LLaMA-Factory's fix_valuehead_checkpoint does, value_head.safetensors beside the adapter or model
// (v_head.summary.weight (1, C), v_head.summary.bias (1)), so LLaMA-Factory and TRL load it; read back from there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError } from '../../util/errors.js';
import { VALUE_HEAD_FILE } from '../../model/export.js';
import { readSafetensors, writeSafetensors } from '../../model/safetensors.js';
import { linear } from '../../tensor/ops.js';
import { Rng } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';

const WEIGHT = 'v_head.summary.weight';
const BIAS = 'v_head.summary.bias';
const INIT_STREAM = 0x7eed;

export class ValueHead {
  constructor(readonly weight: Tensor /* (1, C) */, readonly bias: Tensor /* (1) */) {
    weight.requiresGrad = true;
    bias.requiresGrad = true;
  }

  // torch's nn.Linear default: weight and bias uniform in +-1/sqrt(C), here from the run's seed.
  static fresh(C: number, seed: number): ValueHead {
    const rng = new Rng(seed, INIT_STREAM);
    const bound = 1 / Math.sqrt(C);
    const draw = (n: number): Float32Array => Float32Array.from({ length: n }, () => (2 * rng.nextFloat32() - 1) * bound);
    return new ValueHead(new Tensor(draw(C), [1, C]), new Tensor(draw(1), [1]));
  }

  // The head saved in dir, or null when dir has none.
  static read(dir: string, C: number): ValueHead | null {
    const path = join(dir, VALUE_HEAD_FILE);
    if (!existsSync(path)) return null;
    const tensors = readSafetensors(path);
    const take = (name: string, size: number, shape: number[]): Tensor => {
      const t = tensors.get(name);
      if (t === undefined || t.data.length !== size) throw new RetuneError(`${path}: ${name} is missing or not ${size} values`);
      return new Tensor(t.data.slice(), shape);
    };
    return new ValueHead(take(WEIGHT, C, [1, C]), take(BIAS, 1, [1]));
  }

  // h (R, C) -> scores (R, 1)
  score(h: Tensor): Tensor {
    return linear(h, this.weight, this.bias);
  }

  parameters(): Map<string, Tensor> {
    return new Map([[WEIGHT, this.weight], [BIAS, this.bias]]);
  }

  write(dir: string): void {
    const tensors = new Map([...this.parameters()].map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.data }]));
    writeSafetensors(join(dir, VALUE_HEAD_FILE), tensors, { format: 'pt' });
  }
}
