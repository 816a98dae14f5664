// The seeded generator behind LoRA's initialisation and dropout masks. Its whole state is four 32-bit words, so the
// trainer can save it in a checkpoint and a resumed run draws the same masks as an uninterrupted one.
import { RetuneError } from '../../config/errors.js';

export type RngState = [number, number, number, number];

export class AdapterRng {
  private s: Uint32Array = new Uint32Array(4);

  // `stream` keeps the init draws and the dropout draws of one seed apart.
  constructor(seed: number, stream: number) {
    let x = (mix32(seed >>> 0) ^ mix32(Math.floor(seed / 2 ** 32)) ^ mix32((stream >>> 0) + 0x632be5ab)) >>> 0;
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
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) || state.every((w) => w === 0)) {
      throw new RetuneError(`LoRA RNG state must be four unsigned 32-bit words, not all zero; got ${JSON.stringify(state)}`);
    }
    this.s.set(state);
  }

  // xoshiro128**
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

  // Uniform in [0, 1) on the float32 grid (24 bits), as torch draws float32 uniforms.
  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
