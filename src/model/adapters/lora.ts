// One LoRA (or DoRA) layer on a frozen Linear, with PEFT's math so adapters move between Retune and Python PEFT:
//   LoRA: y = W x + b + s * B (A dropout(x))                           s = alpha / r  (alpha / sqrt(r) with rsLoRA)
//   DoRA: y = W x + b + (g - 1) * W x' + g * s * B (A x'),   g = m / ||W + s B A||_row (detached),  x' = dropout(x)
// which for x' = x is m * (W + s B A) x / ||W + s B A||_row + b: the magnitude m times the unit-norm direction.
// A starts as kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), B as zeros, m as the row norms of W, so
// a fresh adapter leaves the base model's output unchanged.
import { RetuneError } from '../../util/errors.js';
import type { Linear, LinearAdapter } from '../../nn/linear.js';
import { checkpoint, replayable, willRecord } from '../../tensor/autograd.js';
import { add, embedding, linear, mul, reshape, scale } from '../../tensor/ops.js';
import { loraLinear } from '../../tensor/lora-linear.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Rng } from '../../tensor/random.js';

// Shared by every adapter of a model: the dropout generator, and whether dropout is on (training) or off (eval).
export interface DropoutState {
  rng: Rng;
  training: boolean;
}

export interface LoraShape {
  r: number;
  scaling: number;
  dropout: number;
  useDora: boolean;
}

export class LoraAdapter implements LinearAdapter {
  readonly base: Linear;
  readonly spec: LoraShape;
  readonly A: Tensor; // (r, in)
  readonly B: Tensor; // (out, r)
  readonly magnitude: Tensor | null; // (out), DoRA only
  private readonly dropoutState: DropoutState;

  constructor(base: Linear, spec: LoraShape, dropoutState: DropoutState, A: Tensor, B: Tensor, magnitude: Tensor | null) {
    const [out, inF] = base.weight.shape;
    checkShape('lora_A', A, [spec.r, inF]);
    checkShape('lora_B', B, [out, spec.r]);
    if (spec.useDora) {
      if (magnitude === null) throw new RetuneError('DoRA adapter needs a magnitude vector');
      checkShape('lora_magnitude_vector', magnitude, [out]);
    }
    this.base = base;
    this.spec = spec;
    this.dropoutState = dropoutState;
    this.A = A;
    this.B = B;
    this.magnitude = spec.useDora ? magnitude : null;
    for (const t of this.parameters().values()) t.requiresGrad = true;
  }

  // A fresh adapter: kaiming-uniform A, zero B and (DoRA) m = ||W||_row, so the layer's output is unchanged.
  static fresh(base: Linear, spec: LoraShape, dropoutState: DropoutState, initRng: Rng): LoraAdapter {
    const [out, inF] = base.weight.shape;
    const bound = 1 / Math.sqrt(inF);
    const a = new Float32Array(spec.r * inF);
    for (let i = 0; i < a.length; i++) a[i] = (2 * initRng.nextFloat32() - 1) * bound;
    const A = Tensor.from(a, [spec.r, inF]);
    const B = Tensor.zeros([out, spec.r]);
    const magnitude = spec.useDora ? Tensor.from(rowNorms(base.weight, null, 0), [out]) : null;
    return new LoraAdapter(base, spec, dropoutState, A, B, magnitude);
  }

  parameters(): Map<string, Tensor> {
    const params = new Map<string, Tensor>([['lora_A.weight', this.A], ['lora_B.weight', this.B]]);
    if (this.magnitude !== null) params.set('lora_magnitude_vector', this.magnitude);
    return params;
  }

  // LoRA adds its branch straight into the base output's buffer (loraLinear), keeping only the (N, r) product and,
  // with dropout, the dropped input; its backward pushes the one output gradient through W and the branch alike.
  // DoRA's low-rank path runs under checkpoint(): only its output is kept for backward, and the (N, r) and
  // (N, out) intermediates are recomputed there.
  forward(x: Tensor, baseOutput: Tensor): Tensor {
    const mask = this.dropoutMask(x); // (..., in) or null
    if (this.magnitude === null) {
      const xA = mask === null ? undefined : mul(x, mask); // (..., in)
      return loraLinear(x, this.base.weight, this.base.bias, this.A, this.B, this.spec.scaling, { xA, base: baseOutput });
    }
    const inverseNorm = this.inverseNorms(); // (out)
    const run = ([input, base]: Tensor[]): Tensor => this.dora(input, base, mask, inverseNorm);
    const params = [...this.parameters().values()];
    return willRecord([x, baseOutput, ...params]) ? checkpoint(run, [x, baseOutput]) : run([x, baseOutput]);
  }

  private dora(x: Tensor, baseOutput: Tensor, mask: Tensor | null, inverseNorm: Float32Array): Tensor {
    const xd = mask === null ? x : mul(x, mask); // (..., in)
    const lora = linear(scale(linear(xd, this.A), this.spec.scaling), this.B); // (..., out), scaled through the (..., r) side
    // PEFT reuses the base output as W x' when no dropout was applied; with dropout W x' is computed again.
    const wx = mask === null ? this.withoutBias(baseOutput) : linear(xd, this.base.weight); // (..., out)
    const g = this.doraScale(inverseNorm, baseOutput.shape); // (..., out)
    return add(add(baseOutput, mul(g, add(wx, lora))), scale(wx, -1));
  }

  // W + s B A (or, for DoRA, m * (W + s B A) / ||W + s B A||_row) as float32 (out, in): the weight a merge writes.
  mergedWeight(): Float32Array {
    const [out, inF] = this.base.weight.shape;
    const w = this.base.weight.values().slice();
    addScaledProduct(w, this.B.data, this.A.data, this.spec.scaling, out, this.spec.r, inF);
    if (this.magnitude === null) return w;
    const norms = rowNorms(this.base.weight, this, this.spec.scaling);
    for (let o = 0; o < out; o++) {
      const g = this.magnitude.data[o] / norms[o];
      for (let i = 0; i < inF; i++) w[o * inF + i] *= g;
    }
    return w;
  }

  // Drawn through replayable() so that a recomputation under gradient checkpointing sees the same mask.
  private dropoutMask(x: Tensor): Tensor | null {
    const p = this.spec.dropout;
    if (p === 0 || !this.dropoutState.training) return null;
    return replayable(() => {
      const keep = 1 / (1 - p);
      const mask = new Float32Array(x.size);
      const rng = this.dropoutState.rng;
      for (let i = 0; i < mask.length; i++) mask[i] = rng.nextFloat32() < p ? 0 : keep;
      return Tensor.from(mask, x.shape);
    });
  }

  // 1 / ||W + s B A||_row (out): a constant (detached, as in PEFT and the DoRA paper), so the gradient reaches m
  // directly and A, B only through the directed update.
  private inverseNorms(): Float32Array {
    const inverse = rowNorms(this.base.weight, this, this.spec.scaling);
    for (let o = 0; o < inverse.length; o++) inverse[o] = 1 / inverse[o];
    return inverse;
  }

  // g = m / ||W + s B A||_row broadcast over the rows of the output.
  private doraScale(inverseNorm: Float32Array, outShape: number[]): Tensor {
    const magnitude = this.magnitude as Tensor;
    const out = magnitude.size;
    const g = mul(magnitude, Tensor.from(inverseNorm, [out])); // (out)
    const rows = outShape.slice(0, -1);
    const N = rows.reduce((a, b) => a * b, 1);
    // Embedding every row from the one-row table [g] is a broadcast whose backward sums the rows into g's gradient.
    return embedding(reshape(g, [1, out]), new Int32Array(N), rows); // (..., out)
  }

  private withoutBias(baseOutput: Tensor): Tensor {
    const bias = this.base.bias;
    if (bias === null) return baseOutput;
    const out = bias.size;
    const negated = new Float32Array(baseOutput.size);
    const b = bias.values();
    for (let i = 0; i < negated.length; i++) negated[i] = -b[i % out];
    return add(baseOutput, Tensor.from(negated, baseOutput.shape));
  }
}

function checkShape(name: string, t: Tensor, expected: number[]): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new RetuneError(`${name}: shape [${t.shape.join(', ')}], expected [${expected.join(', ')}]`);
  }
}

// w (out, in) += s * b (out, r) @ a (r, in)
function addScaledProduct(w: Float32Array, b: Float32Array, a: Float32Array, s: number, out: number, r: number, inF: number): void {
  for (let o = 0; o < out; o++) {
    for (let k = 0; k < r; k++) {
      const coef = s * b[o * r + k];
      if (coef === 0) continue;
      const aRow = k * inF;
      const wRow = o * inF;
      for (let i = 0; i < inF; i++) w[wRow + i] += coef * a[aRow + i];
    }
  }
}

// ||W + s B A|| of every output row (out), accumulated in float64; `adapter` null means ||W||. Works row by row so a
// bf16 weight is never widened whole.
export function rowNorms(weight: Tensor, adapter: LoraAdapter | null, s: number): Float32Array {
  const [out, inF] = weight.shape;
  const norms = new Float32Array(out);
  const row = new Float32Array(inF);
  const widened = new Uint32Array(row.buffer);
  for (let o = 0; o < out; o++) {
    if (weight.bf16 !== null) for (let i = 0; i < inF; i++) widened[i] = weight.bf16[o * inF + i] << 16;
    else row.set(weight.data.subarray(o * inF, (o + 1) * inF));
    if (adapter !== null) {
      const r = adapter.spec.r;
      addScaledProduct(row, adapter.B.data.subarray(o * r, (o + 1) * r), adapter.A.data, s, 1, r, inF);
    }
    let sum = 0;
    for (let i = 0; i < inF; i++) sum += row[i] * row[i];
    norms[o] = Math.sqrt(sum);
  }
  return norms;
}
