import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/index.js';
import { clipGradNorm, globalGradNorm } from '../../src/optim/clip.js';
import { assertNear, backends, golden, namedParams, setGrads } from './golden.js';

function paramsWithGrads(grads: Record<string, number[]>) {
  const params = namedParams(Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, g.map(() => 0)])));
  setGrads(params, grads);
  return params;
}

for (const backend of backends) {
  test(`${backend}: clipGradNorm matches torch.nn.utils.clip_grad_norm_ above and below the limit`, () => {
    setBackend(backend);
    for (const c of [golden.clip_active, golden.clip_inactive]) {
      const params = paramsWithGrads(c.grads);
      const norm = clipGradNorm(params, c.maxNorm);
      assert.ok(Math.abs(norm - c.norm) <= 1e-6 * c.norm, `norm ${norm} vs torch ${c.norm}`);
      for (const [n, p] of params) assertNear(p.grad as Float32Array, c.clipped[n], `max ${c.maxNorm} ${n}`);
    }
    assert.ok(golden.clip_active.norm > golden.clip_active.maxNorm && golden.clip_inactive.norm < golden.clip_inactive.maxNorm);
  });
}

test('the norm is the same bits whatever order the parameters were inserted in', () => {
  setBackend('reference');
  const grads = golden.clip_active.grads;
  const forward = paramsWithGrads(grads);
  const backward = paramsWithGrads(Object.fromEntries(Object.entries(grads).reverse()));
  assert.equal(globalGradNorm(forward), globalGradNorm(backward));
});

test('a non-finite norm is returned and the gradients are left alone; max_grad_norm 0 only measures', () => {
  setBackend('reference');
  const params = paramsWithGrads({ 'a.weight': [3, 4], 'b.weight': [Number.POSITIVE_INFINITY] });
  assert.equal(clipGradNorm(params, 1), Number.POSITIVE_INFINITY);
  assert.deepEqual([...params.get('a.weight')!.grad!], [3, 4]);
  const nan = paramsWithGrads({ 'a.weight': [Number.NaN, 1] });
  assert.ok(Number.isNaN(clipGradNorm(nan, 1)));
  const unclipped = paramsWithGrads({ 'a.weight': [3, 4] });
  assert.equal(clipGradNorm(unclipped, 0), 5);
  assert.deepEqual([...unclipped.get('a.weight')!.grad!], [3, 4]);
  assert.throws(() => clipGradNorm(unclipped, -1), /max_grad_norm must be a finite number >= 0/);
});

test('parameters without gradients count as zero', () => {
  const params = paramsWithGrads({ 'a.weight': [3, 4] });
  params.set('b.weight', { data: new Float32Array(2), grad: null });
  assert.equal(globalGradNorm(params), 5);
});
