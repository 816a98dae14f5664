// matmulBf16 under every kernel path this host runs (bf16 kernels: AMX, AVX512_BF16, else the float32 GEMM on rounded
// activations) against
// the reference backend: odd shapes, few rows (decode: up to 16 rows against a (N, K) weight run the few-row kernel of
// decode_rows.cc on every path, with K tails of every length and blocks of W rows cut at N), several depth steps,
// both weight layouts, batch, transA and accumulate; then identical bits run to run and for 1, 2 and 3 threads.
// Skipped when the addon is not built.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MatmulArgs } from '../../src/backend/backend.js';
import { referenceBackend as ref } from '../../src/backend/reference.js';
import { loadNativeAddon } from '../../src/backend/native.js';
import { bitsEqual, randn } from './helpers.js';

const addon = loadNativeAddon();
const paths = addon === null ? [] : addon.kernelPaths().paths;

// The bf16 kernel each kernel path gives (every one of them passes its self-check on a sound host).
function bf16KernelOf(path: string): string {
  return path === 'amx' || path === 'avx512bf16' ? path : 'float32';
}

// Weights as bf16 bits, truncated from random floats.
function randBf16(n: number, seed: number): Uint16Array {
  const x = randn(n, seed);
  return Uint16Array.from(new Uint32Array(x.buffer), (u) => u >>> 16);
}

function abs16(b: Uint16Array): Uint16Array {
  return b.map((u) => u & 0x7fff);
}

// [batch, M, N, K]: edges of the 32x32 blocks, K not a multiple of 32 or of 2, depth steps (K > 1024), 1..17 rows.
const shapes: [number, number, number, number][] = [
  [1, 1, 1, 1], [1, 37, 45, 77], [2, 33, 17, 64], [1, 64, 96, 31], [1, 70, 40, 2100], [1, 40, 33, 1025],
  [1, 1, 300, 896], [1, 3, 70, 33], [1, 8, 65, 100], [2, 5, 40, 7], [1, 9, 50, 60], [1, 16, 16, 32],
  [1, 2, 131, 47], [1, 4, 37, 15], [1, 6, 23, 16], [1, 12, 29, 200], [1, 16, 70, 96], [1, 11, 9, 5], [3, 7, 19, 33],
  [1, 1, 2, 1100], [1, 17, 20, 40],
];

describe('matmulBf16 paths', { skip: addon === null ? 'native addon not built' : false }, () => {
  const native = addon!;
  const threads = native.getThreads();
  const initial = native.kernelPaths().path;
  after(() => {
    native.setThreads(threads);
    native.setKernelPath(initial);
  });

  it('each kernel path runs its bf16 kernel: the bf16 kernels pass their self-check here', () => {
    for (const path of paths) {
      native.setKernelPath(path);
      assert.equal(native.bf16Path(), bf16KernelOf(path), path);
    }
  });

  for (const path of paths) {
    it(`${path} (${bf16KernelOf(path)}): matches the reference on odd shapes, both layouts, transA, batch and accumulate`, () => {
      native.setKernelPath(path);
      let seed = 1;
      for (const [batch, M, N, K] of shapes) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const accumulate of [false, true]) {
              const args: MatmulArgs = { batch, M, N, K, transA, transB, accumulate };
              const a = randn(batch * M * K, seed++);
              const b = randBf16(batch * K * N, seed++);
              const c0 = randn(batch * M * N, seed++);
              const want = c0.slice();
              const got = c0.slice();
              const scale = new Float32Array(batch * M * N);
              ref.matmulBf16(a, b, want, args);
              native.matmulBf16(a, b, got, args);
              ref.matmulBf16(a.map(Math.abs), abs16(b), scale, { ...args, accumulate: false });
              // Products are exact; float32 sums of K terms are off by at most K * 2^-24 of the sum of |terms|.
              for (let i = 0; i < want.length; i++) {
                const bound = (K + 1) * 2 ** -24 * (scale[i] + Math.abs(c0[i])) + 1e-30;
                const err = Math.abs(got[i] - want[i]);
                if (!(err <= bound)) assert.fail(`${path} ${JSON.stringify(args)} [${i}]: ${got[i]} vs ${want[i]} (error ${err} > ${bound})`);
              }
            }
          }
        }
      }
    });

    it(`${path} (${bf16KernelOf(path)}): A stored transposed (a weight gradient's g^T) gives the bits of A stored by rows`, () => {
      native.setKernelPath(path);
      // Rows and depths past whole 16-row groups and 32-deep blocks, a wide one (the LM head's dW), two threads.
      for (const [M, N, K] of [[37, 45, 77], [300, 70, 33], [16, 20, 64], [1000, 40, 48], [5, 3, 2]]) {
        const a = randn(K * M, M + K); // (K, M): A^T by rows
        const rows = new Float32Array(M * K); // (M, K)
        for (let k = 0; k < K; k++) for (let i = 0; i < M; i++) rows[i * K + k] = a[k * M + i];
        const b = randBf16(K * N, 3);
        for (const threads of [1, 2]) {
          native.setThreads(threads);
          const [viaT, viaRows] = [new Float32Array(M * N), new Float32Array(M * N)];
          native.matmulBf16(a, b, viaT, { batch: 1, M, N, K, transA: true, transB: false, accumulate: false });
          native.matmulBf16(rows, b, viaRows, { batch: 1, M, N, K, transA: false, transB: false, accumulate: false });
          assert.ok(bitsEqual(viaT, viaRows), `${path} M ${M} N ${N} K ${K}, ${threads} threads`);
        }
      }
    });

    it(`${path} (${bf16KernelOf(path)}): the same bits run to run and for 1, 2 and 3 threads`, () => {
      native.setKernelPath(path);
      for (const [M, N, K, transB] of [[300, 200, 1100, true], [300, 200, 1100, false], [6, 900, 500, true], [1, 5000, 96, true], [16, 700, 333, true]] as const) {
        const args: MatmulArgs = { batch: 1, M, N, K, transA: false, transB, accumulate: false };
        const a = randn(M * K, 7);
        const b = randBf16(K * N, 8);
        const results = [1, 2, 3, 2].map((t) => {
          native.setThreads(t);
          const c = new Float32Array(M * N);
          native.matmulBf16(a, b, c, args);
          return c;
        });
        for (const c of results.slice(1)) assert.ok(bitsEqual(c, results[0]), `${path} ${JSON.stringify(args)}`);
      }
    });
  }
});
