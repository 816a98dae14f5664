// GEMM throughput of the native kernel against the machine's measured FMA peak and, when the Python fixture
// environment exists, against torch.matmul on the same shapes and thread counts.
// Shapes are M x N x K with C (M, N) = op(A) (M, K) @ op(B) (K, N). Layouts: NN = A @ B (the input gradient of a
// linear layer), NT = A @ B^T (the linear forward, weights stored (out, in)), TN = A^T @ B (the weight gradient).
// Run: node dist/bench/gemm.js
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon, type NativeAddon } from '../src/backend/native.js';

type Layout = 'NN' | 'NT' | 'TN';
const SHAPES: [number, number, number][] = [[4096, 512, 1536], [4096, 1536, 512], [1024, 1024, 1024], [256, 288, 768]];
const LAYOUTS: Layout[] = ['NN', 'NT', 'TN'];
const THREADS = [1, 2];
const MIN_SECONDS = 0.4;
const MIN_REPS = 3;

const pythonPath = fileURLToPath(new URL('../../.venv/bin/python', import.meta.url));

function key(M: number, N: number, K: number, layout: Layout, threads: number): string {
  return `${M}x${N}x${K} ${layout} ${threads}`;
}

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

// Median GFLOP/s over repeated runs (after one warm-up run), at least MIN_REPS and MIN_SECONDS.
function timeNative(addon: NativeAddon, M: number, N: number, K: number, layout: Layout): number {
  const a = randomArray(M * K), b = randomArray(K * N), c = new Float32Array(M * N);
  const args = { batch: 1, M, N, K, transA: layout === 'TN', transB: layout === 'NT', accumulate: false };
  addon.matmul(a, b, c, args);
  const rates: number[] = [];
  const start = performance.now();
  while (rates.length < MIN_REPS || performance.now() - start < MIN_SECONDS * 1000) {
    const t0 = performance.now();
    addon.matmul(a, b, c, args);
    rates.push((2 * M * N * K) / ((performance.now() - t0) / 1000) / 1e9);
  }
  rates.sort((x, y) => x - y);
  return rates[Math.floor(rates.length / 2)];
}

const TORCH_SCRIPT = `
import json, sys, time, torch
cases = json.loads(sys.argv[1])
out = {}
for M, N, K, layout, threads in cases:
    torch.set_num_threads(threads)
    a = torch.randn(K, M).t() if layout == 'TN' else torch.randn(M, K)
    b = torch.randn(N, K).t() if layout == 'NT' else torch.randn(K, N)
    c = torch.empty(M, N)
    torch.matmul(a, b, out=c)
    rates = []
    start = time.perf_counter()
    while len(rates) < ${MIN_REPS} or time.perf_counter() - start < ${MIN_SECONDS}:
        t0 = time.perf_counter()
        torch.matmul(a, b, out=c)
        rates.append(2 * M * N * K / (time.perf_counter() - t0) / 1e9)
    rates.sort()
    out[f"{M}x{N}x{K} {layout} {threads}"] = rates[len(rates) // 2]
print(json.dumps(out))
`;

// torch.matmul GFLOP/s per case key, or null (with the reason) when Python or torch is unavailable.
function timeTorch(cases: [number, number, number, Layout, number][]): Promise<Map<string, number> | string> {
  if (!existsSync(pythonPath)) return Promise.resolve('no .venv: torch comparison skipped');
  return new Promise((resolve) => {
    execFile(pythonPath, ['-c', TORCH_SCRIPT, JSON.stringify(cases)], { timeout: 600_000 }, (err, stdout) => {
      if (err) resolve(`torch comparison failed: ${err.message.split('\n')[0]}`);
      else resolve(new Map(Object.entries(JSON.parse(stdout) as Record<string, number>)));
    });
  });
}

export async function benchGemm(): Promise<string[]> {
  const addon = loadNativeAddon();
  if (addon === null) return ['gemm: native addon not built (npm ci builds it); nothing to measure'];
  const before = addon.getThreads();
  const lines = [`gemm: kernel ${addon.kernelName()}; shapes M x N x K, C (M, N) = op(A) (M, K) @ op(B) (K, N)`];
  const cases: [number, number, number, Layout, number][] = [];
  const native = new Map<string, number>();
  const peaks = new Map<number, number>();
  try {
    for (const threads of THREADS) {
      addon.setThreads(threads);
      peaks.set(threads, addon.fmaPeak(threads, 0.5));
      for (const [M, N, K] of SHAPES) {
        for (const layout of LAYOUTS) {
          native.set(key(M, N, K, layout, threads), timeNative(addon, M, N, K, layout));
          cases.push([M, N, K, layout, threads]);
        }
      }
    }
  } finally {
    addon.setThreads(before);
  }
  const torch = await timeTorch(cases);
  if (typeof torch === 'string') lines.push(`gemm: ${torch}`);
  for (const threads of THREADS) {
    const peak = peaks.get(threads) as number;
    lines.push(`gemm: ${threads} thread(s), FMA peak ${peak.toFixed(1)} GFLOP/s`);
    for (const [M, N, K, layout] of cases.filter((c) => c[4] === threads)) {
      const k = key(M, N, K, layout, threads);
      const rate = native.get(k) as number;
      let line = `  ${`${M}x${N}x${K}`.padEnd(15)} ${layout}  ${rate.toFixed(1).padStart(6)} GFLOP/s  ` +
        `${((100 * rate) / peak).toFixed(0).padStart(3)}% of peak`;
      if (typeof torch !== 'string' && torch.has(k)) {
        const t = torch.get(k) as number;
        line += `   torch ${t.toFixed(1).padStart(6)} GFLOP/s  (native/torch ${(rate / t).toFixed(2)})`;
      }
      lines.push(line);
    }
  }
  return lines;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const line of await benchGemm()) console.log(line);
}
