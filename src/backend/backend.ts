// The kernel interface every backend implements. Kernels work on flat Float32Arrays with explicit sizes and never
// allocate their outputs: the caller owns every buffer, so activations can come from pools reused across steps.
// Layouts are row-major. "accumulate" means out += result instead of out = result.

export interface MatmulArgs {
  batch: number; // number of independent products; operands are contiguous blocks
  M: number;
  N: number;
  K: number;
  transA: boolean; // A is stored (batch, K, M) instead of (batch, M, K)
  transB: boolean; // B is stored (batch, N, K) instead of (batch, K, N)
  accumulate: boolean;
}

export interface AttentionArgs {
  B: number;
  T: number;
  nHead: number;
  nKV: number; // grouped-query: head h reads kv head floor(h / (nHead / nKV))
  hd: number; // head dim
  scale: number; // usually 1 / sqrt(hd)
  // Per token (B*T) segment id, or null. A query attends to key j <= i only where segment[j] == segment[i], so packed
  // samples never see each other.
  segments: Int32Array | null;
  // Sliding window in tokens (Mistral, Qwen2/Qwen3 use_sliding_window): query i also needs i - j < window to see key
  // j, as transformers' sliding-window causal mask. null: plain causal.
  window: number | null;
}

export interface CachedAttentionArgs {
  Tq: number; // new query rows: the last Tq of the Tk cached positions
  Tk: number;
  nHead: number;
  nKV: number;
  hd: number;
  scale: number;
  window: number | null; // as AttentionArgs.window
}

export interface Backend {
  readonly name: 'reference' | 'native';
  readonly threads: number;
  // Which kernels run: 'reference' (this TS code) or the native path (avx2, avx512, ...). Results are bit-identical
  // only on the same path.
  readonly kernelPath: string;
  // The kernel of matmulBf16 (frozen bf16 weights) under that path: 'reference', or native amx, avx512bf16 or
  // float32 (a path without bf16 instructions, or one whose first-use self-check failed).
  readonly bf16Kernel: string;

  // C (batch, M, N) = op(A) (batch, M, K) @ op(B) (batch, K, N)
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, args: MatmulArgs): void;
  // Two independent float32 products (neither reads the other's output) in one call: the native backend shares the
  // threads out over both instead of splitting each in turn. Results are those of two matmul calls, bit for bit.
  matmulPair(
    a1: Float32Array, b1: Float32Array, c1: Float32Array, args1: MatmulArgs,
    a2: Float32Array, b2: Float32Array, c2: Float32Array, args2: MatmulArgs,
  ): void;
  // bf16 compute for a frozen bf16 weight B (the high 16 bits of a float32), as PyTorch runs a bf16 model: A is
  // rounded to bf16 (nearest even), every product is exact and the sums are float32 (float64 in the reference).
  matmulBf16(a: Float32Array, b: Uint16Array, c: Float32Array, args: MatmulArgs): void;
  // out = the bf16 bits of x (nearest even, NaN kept quiet: torch's cast), for matmulBf16 to read as B: a trainable
  // weight's bf16 copy under bf16 mixed precision.
  roundBf16(x: Float32Array, out: Uint16Array, n: number): void;

  // out (N, C) = weight[ids] ; weight (V, C)
  embedding(weight: Float32Array, ids: Int32Array, out: Float32Array, C: number): void;
  // dWeight (V, C) += scatter of dOut (N, C) by ids
  embeddingBackward(dOut: Float32Array, ids: Int32Array, dWeight: Float32Array, C: number): void;

  // out (N, C) = x / rms(x) * w ; rstd (N) saved for backward
  rmsnorm(x: Float32Array, w: Float32Array, out: Float32Array, rstd: Float32Array, N: number, C: number, eps: number): void;
  // dx (N, C) = ... (overwritten); dw (C) += ...
  rmsnormBackward(
    dOut: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array,
    dx: Float32Array, dw: Float32Array, N: number, C: number,
  ): void;

  // HF rotate_half RoPE applied per head. x, out (N, nHead, hd); positions (N); cos/sin tables (maxPos, hd/2).
  // inverse = true rotates by -angle, which is the backward of the forward rotation.
  rope(
    x: Float32Array, out: Float32Array, positions: Int32Array, cos: Float32Array, sin: Float32Array,
    N: number, nHead: number, hd: number, inverse: boolean,
  ): void;

  // Causal attention (within args.window when set), streaming over keys (memory O(T) per head). q, out
  // (B, T, nHead, hd); k, v (B, T, nKV, hd); lse (B, nHead, T) log-sum-exp of the scaled scores, saved for backward.
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array, args: AttentionArgs): void;
  // dq, dk, dv are overwritten.
  attentionBackward(
    dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, args: AttentionArgs,
  ): void;

  // Generation: Tq new query rows of one sequence over the Tk keys and values its KV cache holds, the new rows'
  // own included (RoPE already applied). q, out (Tq, nHead, hd); k, v (Tk, nKV, hd).
  attentionCached(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, args: CachedAttentionArgs): void;

  // out (n) = silu(gate) * up
  swiglu(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  // dGate, dUp (n) overwritten
  swigluBackward(dOut: Float32Array, gate: Float32Array, up: Float32Array, dGate: Float32Array, dUp: Float32Array, n: number): void;

  // Cross-entropy fused with log-softmax over logits (N, V). targets (N), -100 = ignored. losses (N) gets
  // -log p[target] (0 where ignored), lse (N) the row log-sum-exp. Probabilities are never stored.
  crossEntropy(logits: Float32Array, targets: Int32Array, losses: Float32Array, lse: Float32Array, N: number, V: number): void;
  // dLogits (N, V) = (softmax - onehot) * dLoss[row] (0 rows where ignored); overwritten. dLogits may be logits
  // itself (in place); any other overlap is not allowed.
  crossEntropyBackward(
    logits: Float32Array, targets: Int32Array, lse: Float32Array, dLoss: Float32Array, dLogits: Float32Array,
    N: number, V: number,
  ): void;

  // Both at once, the gradient written over the logits: losses and lse as crossEntropy gives them, then logits (N, V)
  // becomes (softmax - onehot) * dLoss[row] (0 rows where ignored). Each row is read from memory once.
  crossEntropyWithGrad(
    logits: Float32Array, targets: Int32Array, losses: Float32Array, lse: Float32Array, dLoss: Float32Array,
    N: number, V: number,
  ): void;

  // Decoupled AdamW as torch.optim.AdamW: p -= lr*wd*p; m,v moments; p -= lr * mHat / (sqrt(vHat) + eps).
  // bc1 = 1 - beta1^step, bc2 = 1 - beta2^step.
  adamw(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, bc1: number, bc2: number,
  ): void;

  sumSquares(x: Float32Array, n: number): number; // sum in float64, fixed reduction order
  scale(x: Float32Array, s: number, n: number): void; // x *= s, in place
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void; // out = a + b (out may alias a)
  mul(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void; // out = a * b
  axpy(alpha: number, x: Float32Array, y: Float32Array, n: number): void; // y += alpha * x
  addRows(out: Float32Array, bias: Float32Array, N: number, C: number): void; // out (N, C) += bias (C), every row
  // out (C) += the column sums of x (N, C): each column one float32 sum, rows in order
  sumRows(x: Float32Array, out: Float32Array, N: number, C: number): void;
  // dst (cols, rows) (=|+=) src (rows, cols)^T
  transpose(src: Float32Array, dst: Float32Array, rows: number, cols: number, accumulate: boolean): void;

  // Low-rank products: LoRA's rank-r branches (r small) without a general GEMM's packing. Float32 sums in the fixed
  // orders reference.ts spells out, which every backend and path follows: the results are the same bits everywhere.
  // y (n, r) = s * x (n, F) @ w^T, w (r, F)
  lowRankProject(x: Float32Array, w: Float32Array, y: Float32Array, n: number, F: number, r: number, s: number): void;
  // out (n, F) += y (n, r) @ w (r, F)
  lowRankExpand(y: Float32Array, w: Float32Array, out: Float32Array, n: number, r: number, F: number): void;
  // d (r, F) (=|+=) y^T (r, n) @ x (n, F)
  lowRankReduce(
    y: Float32Array, x: Float32Array, d: Float32Array, n: number, r: number, F: number, accumulate: boolean,
  ): void;
}
