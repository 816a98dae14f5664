// The Tensor: a shape and a flat row-major Float32Array. Frozen weights may instead hold bf16 bits (`bf16`), which
// linear() and embedding() widen inside their kernels so a frozen base model takes half the memory.
import { RetuneError } from '../util/errors.js';

const RELEASED = new Float32Array(0);

export class Tensor {
  shape: number[];
  data: Float32Array;
  grad: Float32Array | null = null;
  requiresGrad = false;
  bf16: Uint16Array | null = null;
  // A trainable weight's bf16 copy under bf16 mixed precision (bf16-copies.ts): the products read it instead of `data`,
  // while the optimizer updates `data`, the float32 master.
  bf16Copy: Uint16Array | null = null;
  // Set by the autograd tape: the op that produced this tensor while recording, and whether `data` is a pool buffer
  // that goes back to the pool when the tape is cleared.
  producer: { readonly op: string } | null = null;
  pooled = false;
  // Set by dropUntilBackward (autograd.ts): `data` was given back after the forward, and backward makes it again from
  // the producer's inputs for the rules that read it.
  dropped = false;

  constructor(data: Float32Array, shape: number[]) {
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new RetuneError(`Tensor: data has ${data.length} elements but shape [${shape.join(', ')}] needs ${n}`);
    }
    this.shape = shape.slice();
    this.data = data;
  }

  static zeros(shape: number[]): Tensor {
    return new Tensor(new Float32Array(sizeOf(shape)), shape);
  }

  static from(data: Float32Array | number[], shape: number[]): Tensor {
    return new Tensor(data instanceof Float32Array ? data : Float32Array.from(data), shape);
  }

  // A frozen weight held as bf16 bits (the high half of each float32); `data` stays empty.
  static fromBf16(bits: Uint16Array, shape: number[]): Tensor {
    const n = sizeOf(shape);
    if (bits.length !== n) {
      throw new RetuneError(`Tensor: bf16 data has ${bits.length} elements but shape [${shape.join(', ')}] needs ${n}`);
    }
    const t = new Tensor(new Float32Array(n), shape);
    t.data = RELEASED;
    t.bf16 = bits;
    return t;
  }

  // The bf16 bits a product reads for this weight (a frozen bf16 weight's own, or a trainable one's copy), or null
  // for a float32 product.
  get productBf16(): Uint16Array | null {
    return this.bf16 ?? this.bf16Copy;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get released(): boolean {
    return this.data === RELEASED && this.bf16 === null;
  }

  // Drops the data after backward() so a stale intermediate fails loudly instead of reading a reused buffer.
  release(): void {
    this.data = RELEASED;
    this.pooled = false;
    this.dropped = false;
  }

  // Gives the data back until backward makes it again (see dropUntilBackward).
  drop(): void {
    this.data = RELEASED;
    this.pooled = false;
    this.dropped = true;
  }

  item(): number {
    if (this.size !== 1) throw new RetuneError(`Tensor.item(): tensor has shape [${this.shape.join(', ')}], not one element`);
    return this.values()[0];
  }

  // The values as float32, widening bf16 weights.
  values(): Float32Array {
    if (this.bf16 !== null) return bf16ToF32(this.bf16);
    if (this.released) throw new RetuneError('Tensor: this intermediate was released by backward(); read it before backward()');
    return this.data;
  }
}

export function sizeOf(shape: number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RetuneError(`Tensor: invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// Round-to-nearest-even, as torch's float32 -> bfloat16 cast; NaN stays a quiet NaN.
export function f32ToBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    f32[0] = x[i];
    const bits = u32[0];
    if ((bits & 0x7fffffff) > 0x7f800000) out[i] = ((bits >>> 16) | 0x0040) & 0xffff;
    else out[i] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}
