// nn modules against transformers: Llama, Qwen2 (q/k/v bias, packed segments) and Qwen3 (q/k norm, head_dim !=
// hidden/heads) attention, and the SwiGLU MLP; outputs and every gradient (golden file from attention_golden.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setBackend } from '../../src/backend/index.js';
import { backward, noGrad } from '../../src/tensor/autograd.js';
import { add, linear, reshape, scale } from '../../src/tensor/ops.js';
import { RopeTable } from '../../src/tensor/rope.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Attention, Linear, MLP, RMSNorm, type LinearAdapter } from '../../src/nn/index.js';
import { maxAbs, maxAbsDiff } from '../tensor/helpers.js';

setBackend('reference');

interface Block {
  x: number[];
  r: number[];
  y: number[];
  dx: number[];
  params: Record<string, number[]>;
  grads: Record<string, number[]>;
}
interface AttentionCase extends Block {
  name: string;
  segments: boolean;
  hidden: number;
  nHead: number;
  nKV: number;
  hd: number;
  theta: number;
  eps: number;
  positions: number[][];
  segmentIds: number[][];
}

const golden = JSON.parse(readFileSync('test/fixtures/tensor/attention_golden.json', 'utf8')) as {
  attention: AttentionCase[];
  mlp: Block;
};
const [B, T] = [2, 5];

function trainable(values: number[], shape: number[]): Tensor {
  const t = Tensor.from(values, shape);
  t.requiresGrad = true;
  return t;
}

function linearFrom(params: Record<string, number[]>, name: string, inF: number): Linear {
  const w = params[`${name}.weight`];
  const bias = params[`${name}.bias`];
  return new Linear(trainable(w, [w.length / inF, inF]), bias === undefined ? null : trainable(bias, [bias.length]));
}

// y, dx and every parameter gradient of sum(y * r) against the golden block.
function checkBlock(g: Block, forward: (x: Tensor) => Tensor, named: [string, Tensor][], tol: number): void {
  const x = trainable(g.x, [B, T, g.x.length / (B * T)]);
  const y = forward(x);
  assert.ok(maxAbsDiff(y.data, g.y) < tol, `y differs by ${maxAbsDiff(y.data, g.y)}`);
  backward(linear(reshape(y, [1, y.size]), Tensor.from(g.r, [1, y.size])));
  assert.ok(maxAbsDiff(x.grad!, g.dx) < tol * Math.max(1, maxAbs(g.dx)), `dx differs by ${maxAbsDiff(x.grad!, g.dx)}`);
  assert.deepEqual(named.map(([n]) => n).sort(), Object.keys(g.grads).sort());
  for (const [name, p] of named) {
    const expected = g.grads[name];
    const diff = maxAbsDiff(p.grad!, expected);
    assert.ok(diff < tol * Math.max(1, maxAbs(expected)), `${name} grad differs by ${diff}`);
  }
}

for (const c of golden.attention) {
  test(`Attention matches transformers: ${c.name}`, () => {
    const p = c.params;
    const attn = new Attention({
      qProj: linearFrom(p, 'q_proj', c.hidden),
      kProj: linearFrom(p, 'k_proj', c.hidden),
      vProj: linearFrom(p, 'v_proj', c.hidden),
      oProj: linearFrom(p, 'o_proj', c.nHead * c.hd),
      qNorm: p['q_norm.weight'] ? new RMSNorm(trainable(p['q_norm.weight'], [c.hd]), c.eps) : null,
      kNorm: p['k_norm.weight'] ? new RMSNorm(trainable(p['k_norm.weight'], [c.hd]), c.eps) : null,
      nHead: c.nHead,
      nKV: c.nKV,
      hd: c.hd,
      rope: new RopeTable({ theta: c.theta, hd: c.hd }),
    });
    const positions = Int32Array.from(c.positions.flat());
    const segments = c.segments ? Int32Array.from(c.segmentIds.flat()) : null;
    // Names are relative to the block; the prefix is the caller's.
    const named = attn.namedParameters('x').map(([n, t]): [string, Tensor] => [n.slice(2), t]);
    checkBlock(c, (x) => attn.forward(x, positions, segments), named, 2e-5);
  });
}

test('MLP matches transformers LlamaMLP', () => {
  const p = golden.mlp.params;
  const mlp = new MLP({ gateProj: linearFrom(p, 'gate_proj', 16), upProj: linearFrom(p, 'up_proj', 16), downProj: linearFrom(p, 'down_proj', 24) });
  const named = mlp.namedParameters('mlp').map(([n, t]): [string, Tensor] => [n.slice(4), t]);
  checkBlock(golden.mlp, (x) => mlp.forward(x), named, 2e-5);
});

test('namedParameters uses HF names under the given prefix', () => {
  const c = golden.attention[2];
  const p = c.params;
  const attn = new Attention({
    qProj: linearFrom(p, 'q_proj', c.hidden), kProj: linearFrom(p, 'k_proj', c.hidden), vProj: linearFrom(p, 'v_proj', c.hidden),
    oProj: linearFrom(p, 'o_proj', c.nHead * c.hd), qNorm: new RMSNorm(Tensor.zeros([c.hd]), 1e-6), kNorm: new RMSNorm(Tensor.zeros([c.hd]), 1e-6),
    nHead: c.nHead, nKV: c.nKV, hd: c.hd, rope: new RopeTable({ theta: c.theta, hd: c.hd }),
  });
  assert.deepEqual(attn.namedParameters('model.layers.3.self_attn').map(([n]) => n), [
    'model.layers.3.self_attn.q_proj.weight', 'model.layers.3.self_attn.k_proj.weight',
    'model.layers.3.self_attn.v_proj.weight', 'model.layers.3.self_attn.o_proj.weight',
    'model.layers.3.self_attn.q_norm.weight', 'model.layers.3.self_attn.k_norm.weight',
  ]);
  assert.throws(() => new Attention({ ...attn, qProj: linearFrom(p, 'k_proj', c.hidden), nHead: c.nHead, nKV: c.nKV, hd: c.hd }), /projection sizes/);
});

test('Linear passes input and base output to its adapter, and gradients flow through it', () => {
  const base = new Linear(Tensor.from([1, 0, 0, 1, 1, 1], [3, 2]));
  const delta = trainable([0.5, -0.5, 0.25, 0, 0, 1], [3, 2]);
  const adapter: LinearAdapter = {
    forward: (x, baseOutput) => add(baseOutput, scale(linear(x, delta), 2)),
    parameters: () => new Map([['delta', delta]]),
  };
  base.adapter = adapter;
  const x = Tensor.from([1, 2], [1, 2]);
  const y = base.forward(x);
  assert.deepEqual(Array.from(y.data), [1 + 2 * -0.5, 2 + 2 * 0.25, 3 + 2 * 2]);
  backward(linear(y, Tensor.from([1, 1, 1], [1, 3])));
  assert.deepEqual(Array.from(delta.grad!), [2, 4, 2, 4, 2, 4]);
  assert.equal(base.weight.grad, null);
  assert.equal(noGrad(() => base.forward(x)).requiresGrad, false);
});
