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
  setThreads(n: number): void;
  getThreads(): number;
  fmaPeak(threads: number, seconds: number): number; // GFLOP/s of a register-only FMA loop
  kernelName(): string; // which GEMM micro-kernel the CPU got
  bf16Paths(): string[]; // matmulBf16's paths this host runs and that passed their self-check, fastest first
  bf16Path(): string; // the one in use
  setBf16Path(name: string): void; // forces a usable path; throws for any other
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

// The raw addon with its pool sized by RETUNE_THREADS, or null when it was not built or does not load here.
export function loadNativeAddon(): NativeAddon | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (!existsSync(addonPath)) return null;
  try {
    const addon = createRequire(import.meta.url)(addonPath) as NativeAddon;
    addon.setThreads(threadsFromEnv());
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
  };
}
