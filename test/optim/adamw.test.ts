import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/index.js';
import { AdamW, type AdamWHyperparameters } from '../../src/optim/adamw.js';
import { RetuneError } from '../../src/util/errors.js';
import { assertNear, backends, golden, namedParams, setGrads, type OptimizerCase } from './golden.js';

function hyperOf(h: OptimizerCase['steps'][number]['hyper']): AdamWHyperparameters {
  const [beta1, beta2] = h.betas as [number, number];
  return { beta1, beta2, eps: h.eps as number, weightDecay: h.weight_decay };
}

// Runs the torch case step by step. Each step after the first runs as a resumed run does: a new AdamW from that
// step's hyperparameters, loaded with the state the previous step left.
function replay(c: OptimizerCase, upTo = c.steps.length, from?: AdamW) {
  const params = namedParams(c.initial);
  let optimizer = from ?? new AdamW(params, hyperOf(c.steps[0].hyper));
  for (let i = 0; i < upTo; i++) {
    setGrads(params, c.steps[i].grads);
    if (i > 0) {
      const resumed = new AdamW(params, hyperOf(c.steps[i].hyper));
      resumed.loadState(optimizer.state());
      optimizer = resumed;
    }
    optimizer.step(c.steps[i].hyper.lr);
  }
  return { params, optimizer };
}

for (const backend of backends) {
  test(`${backend}: AdamW matches torch.optim.AdamW over 3 steps with a changing LR and decay/no-decay groups`, () => {
    setBackend(backend);
    for (const name of ['adamw', 'adamw_rebeta'] as const) {
      const c = golden[name];
      const { params, optimizer } = replay(c);
      for (const [n, p] of params) assertNear(p.data, c.steps[c.steps.length - 1].params[n], `${name} ${n}`);
      const state = optimizer.state();
      assert.equal(state.step, 3);
      assert.deepEqual([...state.tensors.keys()].sort(), Object.keys(c.state).sort());
      for (const [key, values] of state.tensors) assertNear(values, c.state[key], `${name} ${key}`);
    }
  });
}

test('resume: state() then loadState() into a fresh optimizer continues to the same bits', () => {
  setBackend('reference');
  const c = golden.adamw;
  const straight = replay(c);
  const first = replay(c, 2);
  const saved = first.optimizer.state();
  const copy = { step: saved.step, tensors: new Map([...saved.tensors].map(([k, v]) => [k, Float32Array.from(v)])) };
  const params = namedParams(c.initial);
  for (const [n, p] of first.params) params.get(n)?.data.set(p.data);
  const resumed = new AdamW(params, hyperOf(c.steps[0].hyper));
  resumed.loadState(copy);
  assert.equal(resumed.stepCount, 2);
  setGrads(params, c.steps[2].grads);
  resumed.step(c.steps[2].hyper.lr);
  for (const [n, p] of params) assert.deepEqual(p.data, straight.params.get(n)?.data, n);
});

test('loadState refuses missing, unexpected and mis-sized tensors and leaves the moments untouched', () => {
  setBackend('reference');
  const { optimizer } = replay(golden.adamw, 1);
  const good = optimizer.state();
  const before = new Map([...good.tensors].map(([k, v]) => [k, Float32Array.from(v)]));
  const q = 'model.layers.0.self_attn.q_proj.weight';
  const broken = (edit: (t: Map<string, Float32Array>) => void, step = 1) => {
    const tensors = new Map([...good.tensors].map(([k, v]) => [k, new Float32Array(v.length).fill(7)]));
    edit(tensors);
    return { step, tensors };
  };
  const cases: [ReturnType<typeof broken>, RegExp][] = [
    [broken((t) => t.delete(`exp_avg_sq.${q}`)), /AdamW optimizer state: missing tensor exp_avg_sq\.model\.layers\.0\.self_attn\.q_proj\.weight/],
    [broken((t) => t.set('exp_avg.model.extra.weight', new Float32Array(1))), /tensor exp_avg\.model\.extra\.weight matches no trainable parameter/],
    [broken((t) => t.set(`exp_avg.${q}`, new Float32Array(5))), /exp_avg\.model\.layers\.0\.self_attn\.q_proj\.weight has 5 values, the parameter has 12/],
    [broken(() => {}, -1), /step must be an integer >= 0/],
  ];
  for (const [state, message] of cases) {
    assert.throws(() => optimizer.loadState(state), (e: unknown) => e instanceof RetuneError && message.test(e.message));
  }
  assert.equal(optimizer.stepCount, 1);
  for (const [k, v] of optimizer.state().tensors) assert.deepEqual(v, before.get(k), k);
});

test('a parameter without a gradient is left as is; zeroGrad clears gradients', () => {
  setBackend('reference');
  const params = namedParams({ 'a.weight': [1, 2], 'b.weight': [3, 4] });
  const optimizer = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 });
  params.get('a.weight')!.grad = Float32Array.from([0.5, -0.5]);
  optimizer.step(0.1);
  assert.deepEqual([...params.get('b.weight')!.data], [3, 4]);
  assert.notDeepEqual([...params.get('a.weight')!.data], [1, 2]);
  optimizer.zeroGrad();
  assert.deepEqual([...params.get('a.weight')!.grad!], [0, 0]);
});

test('a gradient of the wrong size or a parameter without fp32 values is refused before anything changes', () => {
  setBackend('reference');
  const params = namedParams({ 'a.weight': [1, 2], 'b.weight': [3, 4] });
  const optimizer = new AdamW(params);
  params.get('a.weight')!.grad = Float32Array.from([0.5, -0.5]);
  params.get('b.weight')!.grad = Float32Array.from([0.5]);
  assert.throws(() => optimizer.step(0.1), (e: unknown) => e instanceof RetuneError
    && /gradient of b\.weight has 1 values, the parameter has 2/.test(e.message));
  assert.deepEqual([...params.get('a.weight')!.data], [1, 2]);
  assert.equal(optimizer.stepCount, 0);
  assert.throws(() => new AdamW(namedParams({ 'frozen.weight': [] })), /parameter frozen\.weight has no fp32 values/);
});

test('a learning rate that is not finite is refused', () => {
  const optimizer = new AdamW(namedParams({ 'a.weight': [1] }));
  assert.throws(() => optimizer.step(Number.NaN), /learning rate must be finite/);
  assert.equal(optimizer.stepCount, 0);
});
