import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/index.js';
import { SGD } from '../../src/optim/sgd.js';
import { assertNear, backends, golden, namedParams, setGrads } from './golden.js';

for (const backend of backends) {
  test(`${backend}: SGD matches torch.optim.SGD (momentum 0, weight decay on the decay group) with a changing LR`, () => {
    setBackend(backend);
    const c = golden.sgd;
    const params = namedParams(c.initial);
    const optimizer = new SGD(params, c.steps[0].hyper.weight_decay);
    for (const s of c.steps) {
      setGrads(params, s.grads);
      optimizer.step(s.hyper.lr);
      for (const [n, p] of params) assertNear(p.data, s.params[n], `step ${optimizer.stepCount} ${n}`);
    }
    assert.deepEqual(optimizer.state(), { step: 3, tensors: new Map() });
  });
}

test('SGD state round-trips its step count and refuses moment tensors it does not have', () => {
  const optimizer = new SGD(namedParams({ 'a.weight': [1] }));
  optimizer.loadState({ step: 4, tensors: new Map() });
  assert.equal(optimizer.stepCount, 4);
  assert.throws(() => optimizer.loadState({ step: 1, tensors: new Map([['exp_avg.a.weight', new Float32Array(1)]]) }),
    /SGD optimizer state: tensor exp_avg\.a\.weight matches no trainable parameter/);
});
