// Rotary position tables as HF computes them: inv_freq from rope_theta and the head dim, reshaped by
// `rope_scaling` (llama3 or linear), then cos/sin of position * inv_freq in float32. Rows are built on demand up to
// the largest position seen, so a 128k-context config costs nothing until long sequences arrive.
import { UsageError } from '../util/errors.js';

export interface RopeScaling {
  rope_type?: string;
  type?: string; // older configs name the field `type`
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

export class RopeTable {
  readonly hd: number;
  readonly invFreq: Float32Array; // (hd/2)
  cos: Float32Array = new Float32Array(0); // (rows, hd/2)
  sin: Float32Array = new Float32Array(0);
  rows = 0;

  constructor(opts: { theta: number; hd: number; scaling?: RopeScaling | null; maxPos?: number }) {
    if (!Number.isInteger(opts.hd) || opts.hd <= 0 || opts.hd % 2 !== 0) {
      throw new UsageError(`rope: head dim must be a positive even integer, got ${opts.hd}`);
    }
    if (!(opts.theta > 0)) throw new UsageError(`rope: rope_theta must be positive, got ${opts.theta}`);
    this.hd = opts.hd;
    this.invFreq = scaledInvFreq(defaultInvFreq(opts.theta, opts.hd), opts.scaling ?? null);
    this.ensure(opts.maxPos ?? 0);
  }

  // Makes rows 0..n-1 available.
  ensure(n: number): void {
    if (n <= this.rows) return;
    const rows = Math.max(n, this.rows * 2, 64);
    const half = this.hd / 2;
    const cos = new Float32Array(rows * half);
    const sin = new Float32Array(rows * half);
    cos.set(this.cos);
    sin.set(this.sin);
    for (let p = this.rows; p < rows; p++) {
      for (let i = 0; i < half; i++) {
        // HF multiplies in float32 before cos/sin, so the angle is rounded first.
        const angle = Math.fround(p * this.invFreq[i]);
        cos[p * half + i] = Math.cos(angle);
        sin[p * half + i] = Math.sin(angle);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.rows = rows;
  }
}

function defaultInvFreq(theta: number, hd: number): Float32Array {
  const half = hd / 2;
  const inv = new Float32Array(half);
  // torch rounds the power to float32 before taking the reciprocal; rounding once instead is 1 ulp off for some i,
  // and at position 1e5 one ulp of inv_freq is a visible angle.
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / hd)));
  return inv;
}

function scaledInvFreq(inv: Float32Array, scaling: RopeScaling | null): Float32Array {
  if (scaling === null) return inv;
  const kind = scaling.rope_type ?? scaling.type ?? 'default';
  if (kind === 'default') return inv;
  const factor = scaling.factor;
  if (factor === undefined || !(factor > 0)) throw new UsageError(`rope_scaling: ${kind} needs a positive factor`);
  if (kind === 'linear') return inv.map((f) => f / factor);
  if (kind === 'llama3') return llama3InvFreq(inv, scaling, factor);
  throw new UsageError(`rope_scaling: type '${kind}' is not supported (supported: default, linear, llama3)`);
}

// transformers' _compute_llama3_parameters: long wavelengths are divided by factor, short ones kept, and the band in
// between interpolated smoothly. Every step is rounded to float32 as torch's float32 tensors do.
function llama3InvFreq(inv: Float32Array, s: RopeScaling, factor: number): Float32Array {
  const f32 = Math.fround;
  const low = s.low_freq_factor ?? 1;
  const high = s.high_freq_factor ?? 4;
  const original = s.original_max_position_embeddings;
  if (original === undefined) throw new UsageError('rope_scaling: llama3 needs original_max_position_embeddings');
  const lowWavelen = original / low;
  const highWavelen = original / high;
  return inv.map((f) => {
    const wavelen = f32(f32(2 * Math.PI) / f);
    if (wavelen > lowWavelen) return f / factor;
    if (wavelen < highWavelen) return f;
    const smooth = f32(f32(f32(original / wavelen) - low) / (high - low));
    return f32(f32(f32(f32(1 - smooth) * f) / factor) + f32(smooth * f));
  });
}
