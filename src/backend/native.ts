// Loader for the C++ kernels (native/, built by node-gyp on `npm ci`). The addon checks every buffer length against
// the sizes it is given and throws a RangeError naming the kernel and argument, so a wrong call cannot touch memory
// outside the arrays. Arrays are passed zero-copy.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../util/errors.js';
import type { Backend } from './backend.js';

// The addon's exports: the Backend kernels with the same argument order, plus pool control and probes.
export interface NativeAddon {
  matmul: Backend['matmul'];
  matmulPair: Backend['matmulPair'];
  matmulBf16: Backend['matmulBf16'];
  embedding: Backend['embedding'];
  embeddingBackward: Backend['embeddingBackward'];
  rmsnorm: Backend['rmsnorm'];
  rmsnormBackward: Backend['rmsnormBackward'];
  rope: Backend['rope'];
  attention: Backend['attention'];
  attentionBackward: Backend['attentionBackward'];
  attentionCached: Backend['attentionCached'];
  swiglu: Backend['swiglu'];
  swigluBackward: Backend['swigluBackward'];
  crossEntropy: Backend['crossEntropy'];
  crossEntropyBackward: Backend['crossEntropyBackward'];
  crossEntropyWithGrad: Backend['crossEntropyWithGrad'];
  adamw: Backend['adamw'];
  sumSquares: Backend['sumSquares'];
  scale: Backend['scale'];
  add: Backend['add'];
  mul: Backend['mul'];
  axpy: Backend['axpy'];
  addRows: Backend['addRows'];
  sumRows: Backend['sumRows'];
  transpose: Backend['transpose'];
  roundBf16: Backend['roundBf16'];
  lowRankProject: Backend['lowRankProject'];
  lowRankExpand: Backend['lowRankExpand'];
  lowRankReduce: Backend['lowRankReduce'];
  setThreads(n: number): void;
  getThreads(): number;
  // Tests: the pool's workers sleep this many microseconds before each chunk they take, so the calling thread runs
  // theirs; returns how many chunks have run on a thread other than their owner.
  slowWorkersForTest(microseconds: number): number;
  fmaPeak(threads: number, seconds: number): number; // GFLOP/s of a register-only FMA loop
  kernelName(): string; // which GEMM micro-kernel the path in force uses
  gemmKernels(): string[]; // every GEMM micro-kernel this host runs, incl. the AVX-512 source built on ymm pairs
  setGemmKernel(name: string): void; // makes one of gemmKernels() the GEMM's ('' = the path's own); tests, benches
  kernelPaths(): KernelPaths;
  setKernelPath(path: string): void; // throws a RangeError for a path the host does not run
  bf16Path(): string; // matmulBf16's kernel under the path in force: amx, avx512bf16 or float32
}

// Kernel paths, narrowest first; each one adds to the one before (native/src/cpu.h). 'portable' is the path of a
// host without AVX2+FMA and cannot be chosen elsewhere.
export const kernelPathNames = ['portable', 'avx2', 'avx512', 'avx512bf16', 'amx'] as const;

export interface KernelPaths {
  path: string; // in force
  host: string; // the widest this CPU and OS run
  paths: string[]; // every path that can be chosen here, narrowest first
  features: { avx2_fma: boolean; avx512: boolean; avx512_bf16: boolean; amx_tile: boolean; amx_bf16: boolean };
}

const addonPath = fileURLToPath(new URL('../../../native/build/Release/retune_native.node', import.meta.url));
let cached: NativeAddon | null | undefined;

// RETUNE_THREADS, or every core.
export function threadsFromEnv(): number {
  const raw = process.env.RETUNE_THREADS;
  if (raw === undefined || raw === '') return availableParallelism();
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw new UsageError(`RETUNE_THREADS=${raw}: expected a whole number of threads between 1 and 1024`);
  }
  return n;
}

// RETUNE_ISA picks a narrower path than the widest the host runs (to compare paths, or to match a checkpoint's).
// A path the host cannot run is refused rather than quietly replaced: what is configured is what runs.
export function applyIsaFromEnv(addon: Pick<NativeAddon, 'kernelPaths' | 'setKernelPath'>, raw: string | undefined): void {
  if (raw === undefined || raw === '') return;
  const { host, paths } = addon.kernelPaths();
  if (!(kernelPathNames as readonly string[]).includes(raw)) {
    throw new UsageError(`RETUNE_ISA=${raw}: expected one of ${paths.join(', ')} (the kernel paths this CPU runs)`);
  }
  if (!paths.includes(raw)) {
    throw new UsageError(
      `RETUNE_ISA=${raw}: this CPU does not run that kernel path (widest: ${host}); choose one of ${paths.join(', ')} or unset RETUNE_ISA`,
    );
  }
  addon.setKernelPath(raw);
}

// The raw addon with its pool sized by RETUNE_THREADS, or null when it was not built or does not load here.
export function loadNativeAddon(): NativeAddon | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (!existsSync(addonPath)) return null;
  try {
    const addon = createRequire(import.meta.url)(addonPath) as NativeAddon;
    addon.setThreads(threadsFromEnv());
    applyIsaFromEnv(addon, process.env.RETUNE_ISA);
    cached = addon;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    process.stderr.write(`retune: ${addonPath} did not load (${(err as Error).message.split('\n')[0]})\n`);
  }
  return cached;
}

export function loadNativeBackend(): Backend | null {
  const n = loadNativeAddon();
  if (n === null) return null;
  return {
    name: 'native',
    get threads() {
      return n.getThreads();
    },
    get kernelPath() {
      return n.kernelPaths().path;
    },
    get bf16Kernel() {
      return n.bf16Path();
    },
    // The addon's functions ignore `this`, so they are the kernels themselves.
    matmul: n.matmul,
    matmulPair: n.matmulPair,
    matmulBf16: n.matmulBf16,
    embedding: n.embedding,
    embeddingBackward: n.embeddingBackward,
    rmsnorm: n.rmsnorm,
    rmsnormBackward: n.rmsnormBackward,
    rope: n.rope,
    attention: n.attention,
    attentionBackward: n.attentionBackward,
    attentionCached: n.attentionCached,
    swiglu: n.swiglu,
    swigluBackward: n.swigluBackward,
    crossEntropy: n.crossEntropy,
    crossEntropyBackward: n.crossEntropyBackward,
    crossEntropyWithGrad: n.crossEntropyWithGrad,
    adamw: n.adamw,
    sumSquares: n.sumSquares,
    scale: n.scale,
    add: n.add,
    mul: n.mul,
    axpy: n.axpy,
    addRows: n.addRows,
    sumRows: n.sumRows,
    transpose: n.transpose,
    roundBf16: n.roundBf16,
    lowRankProject: n.lowRankProject,
    lowRankExpand: n.lowRankExpand,
    lowRankReduce: n.lowRankReduce,
  };
}
