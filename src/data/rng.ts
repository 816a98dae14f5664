// A small seeded PRNG for data order: splitmix32 seeding into xoshiro128**. Everything in src/data that shuffles goes
// through here so that the same seed gives the same order on every machine and Node version (Math.random never does).

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  // `stream` separates independent uses of one user seed (epoch number, dataset index, split) so they never share
  // a sequence.
  constructor(seed: number, stream = 0) {
    let x = (mix32(seed >>> 0) ^ mix32((stream >>> 0) + 0x9e3779b9) ^ mix32(Math.floor(seed / 2 ** 32))) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      return mix32(x);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  // xoshiro128**: a uniform 32-bit unsigned integer.
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  nextFloat(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  // Uniform integer in [0, n) without modulo bias (rejection sampling on 32 bits).
  nextInt(n: number): number {
    if (n <= 0 || n > 2 ** 32) throw new RangeError(`nextInt: bound ${n} out of range`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return r % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// splitmix32 finaliser: a bijective avalanche on 32 bits.
function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

// Fisher-Yates: a permutation of 0..n-1 that depends only on the generator's state.
export function permutation(n: number, rng: Rng): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
