// Inputs and the bit comparison the native backend's tests share.
import { rng } from '../tensor/helpers.js';

// n uniform values in [-scale, scale) from the seeded generator.
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

// Whether two arrays (or views) hold the same float32 bit patterns.
export function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
