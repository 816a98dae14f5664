// The two gradients of y (N, out) = x (N, in) @ w^T, shared by the linear op's backward rule and the fused LM head:
// dx (N, in) (+)= g (N, out) @ w (out, in) and dw (out, in) (+)= g^T (out, N) @ x (N, in), whichever are wanted.
// With both, they go to the backend as one paired product, which the native backend runs side by side.
import type { MatmulArgs } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import type { Tensor } from './tensor.js';

export interface GradTarget {
  buf: Float32Array;
  accumulate: boolean;
}

// w may be a bf16 frozen weight only when dw is not wanted.
export function linearGrads(g: Float32Array, w: Tensor, x: Float32Array, N: number, dx: GradTarget | null, dw: GradTarget | null): void {
  const [outF, inF] = w.shape;
  const backend = getBackend();
  const dxArgs: MatmulArgs = { batch: 1, M: N, N: inF, K: outF, transA: false, transB: false, accumulate: dx?.accumulate ?? false };
  const dwArgs: MatmulArgs = { batch: 1, M: outF, N: inF, K: N, transA: true, transB: false, accumulate: dw?.accumulate ?? false };
  if (dx && dw) backend.matmulPair(g, w.data, dx.buf, dxArgs, g, x, dw.buf, dwArgs);
  else if (dx && w.bf16 !== null) backend.matmulBf16(g, w.bf16, dx.buf, dxArgs);
  else if (dx) backend.matmul(g, w.data, dx.buf, dxArgs);
  else if (dw) backend.matmul(g, x, dw.buf, dwArgs);
}
