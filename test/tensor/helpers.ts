// Shared by the engine tests: a seeded RNG, random tensors, and a central-difference gradient check.
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { linear, reshape } from '../../src/tensor/ops.js';
import { Tensor } from '../../src/tensor/tensor.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(shape: number[], rand: () => number, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * scale;
  return new Tensor(data, shape);
}

export function param(shape: number[], rand: () => number, scale = 1): Tensor {
  const t = randn(shape, rand, scale);
  t.requiresGrad = true;
  return t;
}

export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// max |a - b| / max |b|: an error relative to the reference's scale.
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return maxAbsDiff(a, b) / maxAbs(b);
}

// Projects the op's output onto a fixed random direction R, so the scalar L = sum(out * R) has dL/dout = R; the
// projection is itself a linear() (out (1, n) @ R^T), so no extra op is needed.
function project(out: Tensor, r: Tensor): Tensor {
  return linear(reshape(out, [1, out.size]), r);
}

// Largest |analytic - numeric| over every element of every input in `check`, relative to the largest analytic
// gradient. Central differences on a float32 forward: eps around 1e-2 on O(1) values keeps both the truncation and
// the rounding error near 1e-4, so a tolerance of 5e-4 is one a wrong rule cannot meet.
export function gradError(f: (inputs: Tensor[]) => Tensor, inputs: Tensor[], check: number[], eps = 1e-2, seed = 7): number {
  const rand = rng(seed);
  const probe = noGrad(() => f(inputs));
  const r = randn([1, probe.size], rand);
  for (const i of check) {
    inputs[i].requiresGrad = true;
    inputs[i].grad = null;
  }
  backward(project(f(inputs), r));
  let worst = 0;
  let scale = 0;
  for (const i of check) {
    const t = inputs[i];
    const analytic = t.grad as Float32Array;
    scale = Math.max(scale, maxAbs(analytic));
    for (let e = 0; e < t.size; e++) {
      const keep = t.data[e];
      t.data[e] = keep + eps;
      const hi = t.data[e];
      const up = noGrad(() => dot(f(inputs), r));
      t.data[e] = keep - eps;
      const lo = t.data[e];
      const down = noGrad(() => dot(f(inputs), r));
      t.data[e] = keep;
      worst = Math.max(worst, Math.abs((up - down) / (hi - lo) - analytic[e]));
    }
  }
  return worst / Math.max(scale, 1e-6);
}

function dot(out: Tensor, r: Tensor): number {
  let s = 0;
  for (let i = 0; i < out.size; i++) s += out.data[i] * r.data[i];
  return s;
}
