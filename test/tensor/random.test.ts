import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetuneError } from '../../src/util/errors.js';
import { Rng, permutation } from '../../src/tensor/random.js';

// An independent model of the generator in BigInt arithmetic, written from the definitions (Blackman and Vigna's
// xoshiro128**, the splitmix32 finaliser), so that a shared mistake in 32-bit JS tricks cannot hide.
const M32 = 0xffffffffn;
const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;

function refMix32(z: bigint): bigint {
  z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M32;
  z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M32;
  return z ^ (z >> 16n);
}

function refSeed(seed: number, stream: number): bigint[] {
  const lo = BigInt(seed) & M32;
  const hi = BigInt(Math.floor(seed / 2 ** 32)) & M32;
  let x = refMix32(lo) ^ refMix32((BigInt(stream) + 0x9e3779b9n) & M32) ^ refMix32(hi);
  const s: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9n) & M32;
    s.push(refMix32(x));
  }
  return s;
}

function refNext(s: bigint[]): bigint {
  const result = (rotl((s[1] * 5n) & M32, 7n) * 9n) & M32;
  const t = (s[1] << 9n) & M32;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11n);
  return result;
}

test('nextU32 follows xoshiro128** from a set state, including the reference sequence of state (1, 2, 3, 4)', () => {
  const rng = new Rng(0);
  rng.setState([1, 2, 3, 4]);
  const first = Array.from({ length: 6 }, () => rng.nextU32());
  assert.deepEqual(first, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);

  const state = [0x9e3779b9, 0xffffffff, 0x00000001, 0x80000000];
  rng.setState(state);
  const ref = state.map(BigInt);
  for (let i = 0; i < 2000; i++) assert.equal(rng.nextU32(), Number(refNext(ref)), `draw ${i}`);
});

test('seeding by (seed, stream) matches splitmix32 seeding, seeds above 2^32 included', () => {
  for (const [seed, stream] of [[0, 0], [42, 0], [42, 1], [2 ** 32 - 1, 7], [2 ** 32 + 5, 0], [1234567890123, 0x6e530003]]) {
    const rng = new Rng(seed, stream);
    assert.deepEqual(rng.getState(), refSeed(seed, stream).map(Number), `seed ${seed} stream ${stream}`);
    const ref = refSeed(seed, stream);
    for (let i = 0; i < 50; i++) assert.equal(rng.nextU32(), Number(refNext(ref)));
  }
  assert.notDeepEqual(new Rng(5).getState(), new Rng(5 + 2 ** 32).getState());
});

test('floats are built from the top bits of the 32-bit draws', () => {
  const a = new Rng(9, 3);
  const b = new Rng(9, 3);
  for (let i = 0; i < 200; i++) {
    const hi = b.nextU32() >>> 5;
    const lo = b.nextU32() >>> 6;
    assert.equal(a.nextFloat(), (hi * 2 ** 26 + lo) / 2 ** 53);
    const f32 = a.nextFloat32();
    assert.equal(f32, (b.nextU32() >>> 8) / 2 ** 24);
    assert.equal(Math.fround(f32), f32, 'a float32 uniform is exact in float32');
  }
  const c = new Rng(0);
  c.setState([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  for (let i = 0; i < 1000; i++) {
    const u = c.nextFloat();
    assert.ok(u >= 0 && u < 1, `nextFloat ${u} outside [0, 1)`);
  }
});

test('getState / setState round trip resumes the same sequence', () => {
  const rng = new Rng(77, 2);
  for (let i = 0; i < 13; i++) rng.nextU32();
  const saved = rng.getState();
  const expected = [rng.nextU32(), rng.nextFloat(), rng.nextInt(1000), rng.nextNormal()];
  const resumed = new Rng(1);
  resumed.setState(JSON.parse(JSON.stringify(saved)) as number[]);
  assert.deepEqual([resumed.nextU32(), resumed.nextFloat(), resumed.nextInt(1000), resumed.nextNormal()], expected);
  assert.deepEqual(resumed.getState(), rng.getState());
});

test('setState rejects anything but four unsigned 32-bit words, not all zero', () => {
  const rng = new Rng(1);
  const before = rng.getState();
  for (const bad of [[0, 0, 0, 0], [1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, -1], [1, 2, 3, 2 ** 32], [1, 2, 3, 0.5]]) {
    assert.throws(() => rng.setState(bad), (e: unknown) => e instanceof RetuneError && /four unsigned 32-bit words/.test(e.message));
  }
  assert.deepEqual(rng.getState(), before, 'a rejected state leaves the generator as it was');
});

test('streams of one seed are independent sequences', () => {
  const N = 4096;
  const draws = (stream: number): number[] => {
    const rng = new Rng(2024, stream);
    return Array.from({ length: N }, () => rng.nextFloat());
  };
  const a = draws(0);
  const b = draws(1);
  const c = draws(0x1417);
  assert.deepEqual(draws(0), a, 'a stream repeats itself');
  for (const other of [b, c]) {
    const shared = new Set(a.map((x) => x.toString()));
    assert.ok(other.every((x) => !shared.has(x.toString())), 'no value of one stream reappears in the other');
    // Pearson correlation of independent uniforms has standard deviation 1/sqrt(N) (about 0.016 here).
    const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    const ma = mean(a);
    const mo = mean(other);
    let cov = 0;
    let va = 0;
    let vo = 0;
    for (let i = 0; i < N; i++) {
      cov += (a[i] - ma) * (other[i] - mo);
      va += (a[i] - ma) ** 2;
      vo += (other[i] - mo) ** 2;
    }
    assert.ok(Math.abs(cov / Math.sqrt(va * vo)) < 0.07, 'streams are uncorrelated');
  }
});

test('nextInt stays in [0, n), covers it evenly, and rejects bad bounds', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 100; i++) assert.equal(rng.nextInt(1), 0);
  const n = 7;
  const counts = new Array<number>(n).fill(0);
  const draws = 70000;
  for (let i = 0; i < draws; i++) {
    const k = rng.nextInt(n);
    assert.ok(Number.isInteger(k) && k >= 0 && k < n, `nextInt(${n}) gave ${k}`);
    counts[k]++;
  }
  // Each count is binomial with mean 10000 and standard deviation about 93.
  for (const c of counts) assert.ok(Math.abs(c - draws / n) < 500, `uneven counts ${counts}`);
  const big = 3 * 2 ** 30; // rejection matters here: 2^32 % big is a quarter of the range
  for (let i = 0; i < 1000; i++) {
    const k = rng.nextInt(big);
    assert.ok(k >= 0 && k < big);
  }
  for (let i = 0; i < 100; i++) assert.ok(rng.nextInt(2 ** 32) < 2 ** 32);
  for (const bad of [0, -1, 2 ** 32 + 1]) assert.throws(() => rng.nextInt(bad), RangeError);
});

test('nextNormal has mean 0 and standard deviation 1', () => {
  const rng = new Rng(11, 5);
  const N = 200000;
  let sum = 0;
  let sumSq = 0;
  let beyond3 = 0;
  for (let i = 0; i < N; i++) {
    const x = rng.nextNormal();
    assert.ok(Number.isFinite(x));
    sum += x;
    sumSq += x * x;
    if (Math.abs(x) > 3) beyond3++;
  }
  const mean = sum / N;
  const std = Math.sqrt(sumSq / N - mean * mean);
  // Standard errors: mean 1/sqrt(N) = 0.0022, std 1/sqrt(2N) = 0.0016.
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
  // P(|x| > 3) = 0.0027 for a normal: checks the tails, not only the first two moments.
  assert.ok(Math.abs(beyond3 / N - 0.0027) < 0.0006, `tail fraction ${beyond3 / N}`);
});

test('permutation is a Fisher-Yates shuffle driven by nextInt', () => {
  const order = permutation(50, new Rng(8));
  assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(permutation(50, new Rng(8)), order);
  assert.notDeepEqual(permutation(50, new Rng(9)), order);

  const rng = new Rng(8);
  const expected = Array.from({ length: 50 }, (_, i) => i);
  for (let i = 49; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [expected[i], expected[j]] = [expected[j], expected[i]];
  }
  assert.deepEqual(Array.from(order), expected);
  assert.deepEqual(Array.from(permutation(0, new Rng(1))), []);
  assert.deepEqual(Array.from(permutation(1, new Rng(1))), [0]);
});
