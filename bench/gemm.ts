// GEMM throughput of the native kernel (on the kernel path in force) against the machine's measured FMA peaks (ymm
// and, where the host has AVX-512, zmm; "% of peak" is of the widest) and, when the Python fixture environment
// exists, against torch.matmul in fp32 and bf16 on the same shapes and thread counts.
// Shapes are M x N x K with C (M, N) = op(A) (M, K) @ op(B) (K, N). Layouts: NN = A @ B (the input gradient of a
// linear layer), NT = A @ B^T (the linear forward, weights stored (out, in)), TN = A^T @ B (the weight gradient).
// Each figure is the best of at least MIN_REPS runs. Besides wall-clock GFLOP/s, native rates are also given per
// second of CPU time (times the thread count), the basis the FMA peak is measured on, so "% of peak" stays
// meaningful when other processes share the cores. torch is timed by the wall clock in the same way.
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

interface Rates {
  wall: number; // GFLOP/s by the wall clock
  cpu: number; // GFLOP/s per second of CPU time, times the threads used
}

function best(samples: Rates[]): Rates {
  return { wall: Math.max(...samples.map((r) => r.wall)), cpu: Math.max(...samples.map((r) => r.cpu)) };
}

// CPU time is accounted in coarse ticks on some kernels, so each sample repeats the product for at least SAMPLE_SECONDS.
const SAMPLE_SECONDS = 0.05;

function timeNative(addon: NativeAddon, M: number, N: number, K: number, layout: Layout, threads: number): Rates {
  const a = randomArray(M * K), b = randomArray(K * N), c = new Float32Array(M * N);
  const args = { batch: 1, M, N, K, transA: layout === 'TN', transB: layout === 'NT', accumulate: false };
  const w0 = performance.now();
  addon.matmul(a, b, c, args);
  const inner = Math.max(1, Math.ceil((SAMPLE_SECONDS * 1000) / Math.max(performance.now() - w0, 1e-3)));
  const flops = 2 * M * N * K * inner;
  const samples: Rates[] = [];
  const start = performance.now();
  while (samples.length < MIN_REPS || performance.now() - start < MIN_SECONDS * 1000) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let r = 0; r < inner; r++) addon.matmul(a, b, c, args);
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = Math.max((cpu.user + cpu.system) / 1e6, 1e-6);
    samples.push({ wall: flops / wall / 1e9, cpu: (flops / cpuSeconds / 1e9) * threads });
  }
  return best(samples);
}

const TORCH_SCRIPT = `
import json, sys, time, torch
cases = json.loads(sys.argv[1])
out = {}
for M, N, K, layout, threads in cases:
    torch.set_num_threads(threads)
    a = torch.randn(K, M).t() if layout == 'TN' else torch.randn(M, K)
    b = torch.randn(N, K).t() if layout == 'NT' else torch.randn(K, N)
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        c = torch.matmul(x, y)
        rate, n = 0.0, 0
        start = time.perf_counter()
        while n < ${MIN_REPS} or time.perf_counter() - start < ${MIN_SECONDS}:
            t0 = time.perf_counter()
            torch.matmul(x, y, out=c)
            rate = max(rate, 2 * M * N * K / (time.perf_counter() - t0) / 1e9)
            n += 1
        out[f"{M}x{N}x{K} {layout} {threads} {str(dtype)[6:]}"] = rate
print(json.dumps(out))
`;

// torch.matmul GFLOP/s per case key, or null (with the reason) when Python or torch is unavailable.
// (Wall clock only: how many threads torch really keeps busy is its own business.)
function timeTorch(cases: [number, number, number, Layout, number][]): Promise<Map<string, number> | string> {
  if (!existsSync(pythonPath)) return Promise.resolve('no .venv: torch comparison skipped');
  return new Promise((resolve) => {
    execFile(pythonPath, ['-c', TORCH_SCRIPT, JSON.stringify(cases)], { timeout: 600_000 }, (err, stdout) => {
      if (err) resolve(`torch comparison failed: ${err.message.split('\n')[0]}`);
      else resolve(new Map(Object.entries(JSON.parse(stdout) as Record<string, number>)));
    });
  });
}

function widestRegisters(path: string): string {
  return path === 'avx2' || path === 'portable' ? 'ymm' : 'zmm';
}

// The FMA peak on ymm (the avx2 path's loop) and on the path in force (zmm on an AVX-512 path).
function fmaPeaks(addon: NativeAddon, hasAvx2: boolean, threads: number): { ymm: number; widest: number } {
  const { path } = addon.kernelPaths();
  const widest = addon.fmaPeak(threads, 0.5);
  if (!hasAvx2 || path === 'avx2') return { ymm: widest, widest };
  try {
    addon.setKernelPath('avx2');
    return { ymm: addon.fmaPeak(threads, 0.5), widest };
  } finally {
    addon.setKernelPath(path);
  }
}

export async function benchGemm(): Promise<string[]> {
  const addon = loadNativeAddon();
  if (addon === null) return ['gemm: native addon not built (npm ci builds it); nothing to measure'];
  const before = addon.getThreads();
  const { path, paths } = addon.kernelPaths();
  const lines = [`gemm: kernel path ${path}, micro-kernel ${addon.kernelName()}; shapes M x N x K, ` +
    'C (M, N) = op(A) (M, K) @ op(B) (K, N)'];
  const cases: [number, number, number, Layout, number][] = [];
  const native = new Map<string, Rates>();
  const peaks = new Map<number, { ymm: number; widest: number }>();
  try {
    for (const threads of THREADS) {
      addon.setThreads(threads);
      peaks.set(threads, fmaPeaks(addon, paths.includes('avx2'), threads));
      for (const [M, N, K] of SHAPES) {
        for (const layout of LAYOUTS) {
          native.set(key(M, N, K, layout, threads), timeNative(addon, M, N, K, layout, threads));
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
    const { ymm, widest: peak } = peaks.get(threads) as { ymm: number; widest: number };
    lines.push(`gemm: ${threads} thread(s), FMA peak ymm ${ymm.toFixed(1)}, ${path} path (${widestRegisters(path)}) ${peak.toFixed(1)} GFLOP/s ` +
      '(CPU-time basis); columns: wall GFLOP/s, CPU-time GFLOP/s, % of the widest peak[, torch fp32 wall GFLOP/s, ' +
      'native/torch fp32 by wall clock, torch bf16 wall GFLOP/s]');
    for (const [M, N, K, layout] of cases.filter((c) => c[4] === threads)) {
      const k = key(M, N, K, layout, threads);
      const r = native.get(k) as Rates;
      let line = `  ${`${M}x${N}x${K}`.padEnd(15)} ${layout} ${r.wall.toFixed(1).padStart(6)} ${r.cpu.toFixed(1).padStart(6)} ` +
        `${((100 * r.cpu) / peak).toFixed(0).padStart(4)}%`;
      if (typeof torch !== 'string' && torch.has(`${k} float32`)) {
        const t = torch.get(`${k} float32`) as number, t16 = torch.get(`${k} bfloat16`) as number;
        line += `   torch fp32 ${t.toFixed(1).padStart(6)}  ${(r.wall / t).toFixed(2)}   torch bf16 ${t16.toFixed(1).padStart(6)}`;
      }
      lines.push(line);
    }
  }
  return lines;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const line of await benchGemm()) console.log(line);
}
