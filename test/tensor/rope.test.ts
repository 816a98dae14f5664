// RoPE tables against transformers' LlamaRotaryEmbedding (golden file from rope_golden.py) and the rope op against
// the rotate_half formula written out directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { rope } from '../../src/tensor/ops.js';
import { RopeTable, type RopeScaling } from '../../src/tensor/rope.js';
import { maxAbsDiff, randn, rng } from './helpers.js';

setBackend('reference');

interface Golden {
  name: string;
  theta: number;
  hd: number;
  scaling: RopeScaling | null;
  positions: number[];
  invFreq: number[];
  cos: number[];
  sin: number[];
}

const golden = JSON.parse(readFileSync('test/fixtures/tensor/rope_golden.json', 'utf8')) as Golden[];

for (const g of golden) {
  test(`rope table matches transformers: ${g.name}`, () => {
    const table = new RopeTable({ theta: g.theta, hd: g.hd, scaling: g.scaling });
    assert.deepEqual(Array.from(table.invFreq), g.invFreq.map(Math.fround), 'inv_freq bits');
    table.ensure(Math.max(...g.positions) + 1);
    const half = g.hd / 2;
    const cos: number[] = [];
    const sin: number[] = [];
    for (const p of g.positions) {
      for (let i = 0; i < half; i++) {
        cos.push(table.cos[p * half + i]);
        sin.push(table.sin[p * half + i]);
      }
    }
    // Angles beyond ~1e5 rad are float32 products, so a 1-ulp difference in inv_freq would show up here as ~1e-2.
    assert.ok(maxAbsDiff(cos, g.cos) < 1e-6, `cos differs by ${maxAbsDiff(cos, g.cos)}`);
    assert.ok(maxAbsDiff(sin, g.sin) < 1e-6, `sin differs by ${maxAbsDiff(sin, g.sin)}`);
  });
}

test('llama3 scaling leaves high frequencies and divides low ones by factor', () => {
  const g = golden.find((c) => c.name === 'llama3')!;
  const plain = new RopeTable({ theta: g.theta, hd: g.hd });
  const scaled = new RopeTable({ theta: g.theta, hd: g.hd, scaling: g.scaling });
  assert.equal(scaled.invFreq[0], plain.invFreq[0]);
  const last = g.hd / 2 - 1;
  assert.ok(Math.abs(scaled.invFreq[last] - plain.invFreq[last] / 8) < 1e-12);
});

test('rope op rotates each half-pair by position * inv_freq', () => {
  const r = rng(21);
  const [B, T, nHead, hd] = [2, 3, 2, 8];
  const x = randn([B, T, nHead, hd], r);
  const positions = Int32Array.from([0, 1, 2, 40, 7, 1000]);
  const table = new RopeTable({ theta: 10000, hd });
  const y = noGrad(() => rope(x, positions, table));
  const expected = new Float32Array(x.size);
  const half = hd / 2;
  for (let n = 0; n < B * T; n++) {
    for (let h = 0; h < nHead; h++) {
      const o = (n * nHead + h) * hd;
      for (let i = 0; i < half; i++) {
        const angle = positions[n] * Math.pow(10000, (-2 * i) / hd);
        const [x1, x2] = [x.data[o + i], x.data[o + i + half]];
        expected[o + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
        expected[o + i + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
      }
    }
  }
  assert.ok(maxAbsDiff(y.data, expected) < 1e-4, `differs by ${maxAbsDiff(y.data, expected)}`);
});

test('rope rejects bad configs and bad positions', () => {
  assert.throws(() => new RopeTable({ theta: 10000, hd: 7 }), /positive even integer/);
  assert.throws(() => new RopeTable({ theta: 10000, hd: 8, scaling: { rope_type: 'yarn', factor: 2 } }), /'yarn' is not supported/);
  assert.throws(() => new RopeTable({ theta: 10000, hd: 8, scaling: { type: 'llama3', factor: 8 } }), /original_max_position_embeddings/);
  const table = new RopeTable({ theta: 10000, hd: 4 });
  const x = randn([1, 2, 1, 4], rng(1));
  assert.throws(() => rope(x, Int32Array.from([0, -1]), table), /negative position -1 at token 1/);
  assert.throws(() => rope(x, Int32Array.from([0]), table), /1 positions for B\*T = 2/);
});
