// The two gradients of y (N, out) = x (N, in) @ w^T, shared by the linear op's backward rule and the fused LM head:
// dx (N, in) (+)= g (N, out) @ w (out, in) and dw (out, in) (+)= g^T (out, N) @ x (N, in), whichever are wanted.
// With both, they go to the backend as one paired product, which the native backend runs side by side.
import type { MatmulArgs } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { acquire, release } from './pool.js';
import type { Tensor } from './tensor.js';

export interface GradTarget {
  buf: Float32Array;
  accumulate: boolean;
}

// w may be a bf16 frozen weight only when dw is not wanted. A weight with bf16 bits (frozen, or a trainable one's
// bf16 copy) gives dx through the bf16 kernel; a trainable one with a bf16 copy gets dw as autocast computes it, from
// g and x rounded to bf16 (float32 sums).
export function linearGrads(g: Float32Array, w: Tensor, x: Float32Array, N: number, dx: GradTarget | null, dw: GradTarget | null): void {
  const [outF, inF] = w.shape;
  const backend = getBackend();
  const dxArgs: MatmulArgs = { batch: 1, M: N, N: inF, K: outF, transA: false, transB: false, accumulate: dx?.accumulate ?? false };
  const dwArgs: MatmulArgs = { batch: 1, M: outF, N: inF, K: N, transA: true, transB: false, accumulate: dw?.accumulate ?? false };
  const wBits = w.productBf16;
  if (dx && dw && wBits === null) return backend.matmulPair(g, w.data, dx.buf, dxArgs, g, x, dw.buf, dwArgs);
  if (dx && wBits !== null) backend.matmulBf16(g, wBits, dx.buf, dxArgs);
  else if (dx) backend.matmul(g, w.data, dx.buf, dxArgs);
  if (dw && w.bf16Copy !== null) bf16WeightGrad(g, x, dw, dwArgs);
  else if (dw) backend.matmul(g, x, dw.buf, dwArgs);
}

// dw (out, in) (+)= bf16(g)^T (out, N) @ bf16(x) (N, in): x's bits in a pool buffer (two per float), read as B.
function bf16WeightGrad(g: Float32Array, x: Float32Array, dw: GradTarget, args: MatmulArgs): void {
  const n = args.K * args.N;
  const buf = acquire(Math.ceil(n / 2));
  const xBits = new Uint16Array(buf.buffer, buf.byteOffset, n);
  getBackend().roundBf16(x, xBits, n);
  getBackend().matmulBf16(g, xBits, dw.buf, args);
  release(buf);
}
