// The one seeded generator of Retune: splitmix32 seeding into xoshiro128**. Data order, LoRA init and dropout,
// sampling in generation and random weights all draw from it, so the same seed gives the same numbers on every
// machine and Node version (Math.random never does), and its whole state fits in a checkpoint.
import { RetuneError } from '../util/errors.js';

export type RngState = [number, number, number, number];

export class Rng {
  private s = new Uint32Array(4);

  // `stream` separates independent uses of one user seed (epoch number, dataset index, init vs dropout) so they
  // never share a sequence.
  constructor(seed: number, stream = 0) {
    let x = (mix32(seed >>> 0) ^ mix32((stream >>> 0) + 0x9e3779b9) ^ mix32(Math.floor(seed / 2 ** 32))) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      this.s[i] = mix32(x);
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  getState(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  setState(state: readonly number[]): void {
    const valid = state.length === 4 && state.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32);
    if (!valid || state.every((w) => w === 0)) {
      throw new RetuneError(`RNG state must be four unsigned 32-bit words, not all zero; got ${JSON.stringify(state)}`);
    }
    this.s.set(state);
  }

  // xoshiro128**: a uniform 32-bit unsigned integer.
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  nextFloat(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  // Uniform in [0, 1) on the float32 grid (24 bits), as torch draws float32 uniforms.
  nextFloat32(): number {
    return (this.nextU32() >>> 8) / 16777216;
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

  // Standard normal by Box-Muller; 1 - u keeps the logarithm finite.
  nextNormal(): number {
    const u = 1 - this.nextFloat();
    const v = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
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

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// splitmix32 finaliser: a bijective avalanche on 32 bits.
function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
