import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Linear } from '../../../src/nn/linear.js';
import { LoraAdapter, type DropoutState } from '../../../src/model/adapters/lora.js';
import { Rng } from '../../../src/tensor/random.js';
import { backward, clearTape, noGrad } from '../../../src/tensor/autograd.js';
import { mul } from '../../../src/tensor/ops.js';
import { bf16ToF32, f32ToBf16, Tensor } from '../../../src/tensor/tensor.js';

const OUT = 6;
const IN = 5;
const R = 3;

function random(n: number, seed: number, amplitude = 1): Float32Array {
  const rng = new Rng(seed, 99);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.nextFloat32() - 1) * amplitude;
  return out;
}

function baseLinear(withBias: boolean): Linear {
  const weight = Tensor.from(random(OUT * IN, 1), [OUT, IN]);
  return new Linear(weight, withBias ? Tensor.from(random(OUT, 2), [OUT]) : null);
}

function dropoutState(training = false): DropoutState {
  return { rng: new Rng(5, 2), training };
}

function adapter(base: Linear, useDora: boolean, dropout = 0, state = dropoutState()): LoraAdapter {
  const spec = { r: R, scaling: 0.7, dropout, useDora };
  const A = Tensor.from(random(R * IN, 3), [R, IN]);
  const B = Tensor.from(random(OUT * R, 4, 0.5), [OUT, R]);
  const magnitude = useDora ? Tensor.from(random(OUT, 6).map((v) => 1.5 + v), [OUT]) : null;
  const layer = new LoraAdapter(base, spec, state, A, B, magnitude);
  base.adapter = layer;
  return layer;
}

// x (N, IN) @ W^T (IN, OUT) + b in float64
function dense(x: Float32Array, w: Float32Array, bias: Tensor | null, N: number): Float64Array {
  const y = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let s = bias ? bias.data[o] : 0;
      for (let i = 0; i < IN; i++) s += x[n * IN + i] * w[o * IN + i];
      y[n * OUT + o] = s;
    }
  }
  return y;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('a fresh LoRA or DoRA adapter leaves the layer output unchanged', () => {
  for (const useDora of [false, true]) {
    const base = baseLinear(true);
    const x = Tensor.from(random(4 * IN, 7), [2, 2, IN]);
    const before = noGrad(() => base.forward(x)).data.slice();
    base.adapter = LoraAdapter.fresh(base, { r: R, scaling: 2, dropout: 0, useDora }, dropoutState(), new Rng(1, 1));
    const after = noGrad(() => base.forward(x)).data;
    assert.ok(maxDiff(before, after) < 1e-6, `useDora=${useDora}`);
  }
});

test('fresh A is kaiming-uniform(a=sqrt(5)): inside +-1/sqrt(in), spread over it; B is zero', () => {
  const base = new Linear(Tensor.zeros([8, 400]));
  const layer = LoraAdapter.fresh(base, { r: 16, scaling: 1, dropout: 0, useDora: false }, dropoutState(), new Rng(3, 1));
  const bound = 1 / Math.sqrt(400);
  const a = layer.A.data;
  assert.ok(a.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...a) > 0.95 * bound && Math.min(...a) < -0.95 * bound);
  assert.ok(layer.B.data.every((v) => v === 0));
});

test('the adapted output equals x @ mergedWeight^T + b (LoRA and DoRA, with and without bias)', () => {
  for (const useDora of [false, true]) {
    for (const withBias of [false, true]) {
      const base = baseLinear(withBias);
      const layer = adapter(base, useDora);
      const x = random(3 * IN, 8);
      const y = noGrad(() => base.forward(Tensor.from(x, [3, IN])));
      const expected = dense(x, layer.mergedWeight(), base.bias, 3);
      assert.ok(maxDiff(y.data, expected) < 1e-5, `useDora=${useDora} bias=${withBias}: ${maxDiff(y.data, expected)}`);
    }
  }
});

test('DoRA merged weight has row norms equal to the magnitude vector', () => {
  const layer = adapter(baseLinear(false), true);
  const w = layer.mergedWeight();
  for (let o = 0; o < OUT; o++) {
    let s = 0;
    for (let i = 0; i < IN; i++) s += w[o * IN + i] ** 2;
    assert.ok(Math.abs(Math.sqrt(s) - layer.magnitude!.data[o]) < 1e-5);
  }
});

// sum(forward(x) * probe) as float64, for finite differences.
function objective(base: Linear, x: Tensor, probe: Float32Array): number {
  const y = noGrad(() => base.forward(x)).data;
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * probe[i];
  return s;
}

test('gradients of A, B, magnitude and x match finite differences (LoRA and DoRA)', () => {
  for (const useDora of [false, true]) {
    const base = baseLinear(true);
    const layer = adapter(base, useDora);
    const x = Tensor.from(random(4 * IN, 9), [4, IN]);
    x.requiresGrad = true;
    const probe = random(4 * OUT, 10);
    backward(mul(base.forward(x), Tensor.from(probe, [4, OUT])));
    const checks: [string, Tensor][] = [['x', x], ...layer.parameters()];
    for (const [name, t] of checks) {
      const analytic = t.grad!;
      const eps = 1e-2;
      for (let i = 0; i < t.size; i++) {
        const keep = t.data[i];
        t.data[i] = keep + eps;
        const plus = objective(base, x, probe);
        t.data[i] = keep - eps;
        const minus = objective(base, x, probe);
        t.data[i] = keep;
        const numeric = (plus - minus) / (2 * eps);
        // The DoRA norm is detached, so its gradient is compared against a function with the norm held fixed.
        if (useDora && name !== 'x' && name !== 'lora_magnitude_vector') continue;
        assert.ok(Math.abs(numeric - analytic[i]) < 2e-3 * Math.max(1, Math.abs(numeric)), `${useDora ? 'DoRA' : 'LoRA'} ${name}[${i}]: ${analytic[i]} vs ${numeric}`);
      }
    }
  }
});

test('DoRA gradients of A and B treat the row norm as a constant, as PEFT does', () => {
  const base = baseLinear(false);
  const layer = adapter(base, true);
  const x = Tensor.from(random(4 * IN, 11), [4, IN]);
  const probe = random(4 * OUT, 12);
  backward(mul(base.forward(x), Tensor.from(probe, [4, OUT])));
  // With the norm fixed, y = g * (W x + s B A x) and dL/dB[o,k] = s * g[o] * sum_n probe[n,o] (A x_n)[k].
  const w = base.weight.data;
  const a = layer.A.data;
  const b = layer.B.data;
  const ax = new Float64Array(4 * R);
  for (let n = 0; n < 4; n++) {
    for (let k = 0; k < R; k++) {
      for (let i = 0; i < IN; i++) ax[n * R + k] += a[k * IN + i] * x.data[n * IN + i];
    }
  }
  for (let o = 0; o < OUT; o++) {
    let norm2 = 0;
    for (let i = 0; i < IN; i++) {
      let v = w[o * IN + i];
      for (let k = 0; k < R; k++) v += 0.7 * b[o * R + k] * a[k * IN + i];
      norm2 += v * v;
    }
    const g = layer.magnitude!.data[o] / Math.sqrt(norm2);
    for (let k = 0; k < R; k++) {
      let s = 0;
      for (let n = 0; n < 4; n++) s += probe[n * OUT + o] * ax[n * R + k];
      const expected = 0.7 * g * s;
      assert.ok(Math.abs(layer.B.grad![o * R + k] - expected) < 1e-4 * Math.max(1, Math.abs(expected)));
    }
  }
});

test('dropout masks come from the shared RNG: same state, same output; eval mode draws nothing', () => {
  const state = dropoutState(true);
  const base = baseLinear(false);
  adapter(base, false, 0.5, state);
  const x = Tensor.from(random(8 * IN, 13), [8, IN]);
  const saved = state.rng.getState();
  const first = noGrad(() => base.forward(x)).data.slice();
  const second = noGrad(() => base.forward(x)).data.slice();
  assert.ok(maxDiff(first, second) > 1e-3, 'two steps draw different masks');
  state.rng.setState(saved);
  assert.deepEqual(noGrad(() => base.forward(x)).data, first);
  state.training = false;
  const before = state.rng.getState();
  const evalOut = noGrad(() => base.forward(x)).data;
  assert.deepEqual(state.rng.getState(), before);
  const expected = dense(x.data, (base.adapter as LoraAdapter).mergedWeight(), null, 8);
  assert.ok(maxDiff(evalOut, expected) < 1e-5);
  clearTape();
});

// On bf16-valued inputs the bf16 product is the float32 one: only the sums' order can differ.
test('a bf16 frozen base weight gives the same adapted output as its float32 widening on bf16-valued inputs', () => {
  for (const useDora of [false, true]) {
    const f32 = baseLinear(false);
    const bits = f32ToBf16(f32.weight.data);
    const bf = new Linear(Tensor.fromBf16(bits, [OUT, IN]));
    const wide = new Linear(Tensor.from(bf.weight.values(), [OUT, IN]));
    adapter(bf, useDora);
    adapter(wide, useDora);
    const x = Tensor.from(bf16ToF32(f32ToBf16(random(2 * IN, 14))), [2, IN]);
    const a = noGrad(() => bf.forward(x)).data;
    const b = noGrad(() => wide.forward(x)).data;
    assert.ok(maxDiff(a, b) < 1e-6);
  }
});
