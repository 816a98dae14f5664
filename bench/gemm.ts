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
const ALL: Layout[] = ['NN', 'NT', 'TN'];
// [M, N, K, layouts]. The LoRA job's (Qwen2.5-0.5B linears, cutoff 512, batch 1: 512 rows) with a frozen base run
// only the forward x W^T (NT, N = out, K = in: q/o, k/v, gate/up) and the input gradient dY W (NN, N = in, K = out:
// k/v's, gate/up's); the rest of the job's shapes (down's forward, its dx) are like these.
const SHAPES: [number, number, number, Layout[]][] = [
  [4096, 512, 1536, ALL], [4096, 1536, 512, ALL], [1024, 1024, 1024, ALL], [256, 288, 768, ALL],
  [512, 896, 896, ['NT']], [512, 128, 896, ['NT']], [512, 896, 128, ['NN']], [512, 4864, 896, ['NT']],
  [512, 896, 4864, ['NN']],
];
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

// matmulBf16 (B a bf16 weight, stored (N, K) for NT and (K, N) for NN; the product a frozen weight's linear layer
// runs with bf16: true) by the wall clock, best of at least MIN_REPS runs, in GFLOP/s.
function timeNativeBf16(addon: NativeAddon, M: number, N: number, K: number, layout: Layout): number {
  const a = randomArray(M * K), c = new Float32Array(M * N);
  const bits = new Uint32Array(randomArray(K * N).buffer), b = new Uint16Array(K * N);
  for (let i = 0; i < b.length; i++) b[i] = bits[i] >>> 16;
  const args = { batch: 1, M, N, K, transA: false, transB: layout === 'NT', accumulate: false };
  addon.matmulBf16(a, b, c, args);
  let rate = 0;
  const start = performance.now();
  for (let n = 0; n < MIN_REPS || performance.now() - start < MIN_SECONDS * 1000; n++) {
    const t0 = performance.now();
    addon.matmulBf16(a, b, c, args);
    rate = Math.max(rate, (2 * M * N * K) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return rate;
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

// Every case on the native kernel, then on torch, in ROUNDS rounds: the VM's speed drifts (and other work may share
// it), so ratios are taken inside each round and their median reported with their range.
const ROUNDS = Number(process.env.RETUNE_BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function spread(values: number[]): string {
  return `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
}

interface Round {
  native: Map<string, Rates>;
  nativeBf16: Map<string, number>; // NN and NT only: the layouts of a frozen weight's products
  peaks: Map<number, { ymm: number; widest: number }>;
  torch: Map<string, number> | string;
}

async function measureRound(addon: NativeAddon, cases: [number, number, number, Layout, number][]): Promise<Round> {
  const before = addon.getThreads();
  const native = new Map<string, Rates>();
  const nativeBf16 = new Map<string, number>();
  const peaks = new Map<number, { ymm: number; widest: number }>();
  try {
    for (const threads of THREADS) {
      addon.setThreads(threads);
      peaks.set(threads, fmaPeaks(addon, addon.kernelPaths().paths.includes('avx2'), threads));
      for (const [M, N, K, layout] of cases.filter((c) => c[4] === threads)) {
        native.set(key(M, N, K, layout, threads), timeNative(addon, M, N, K, layout, threads));
        if (layout !== 'TN') nativeBf16.set(key(M, N, K, layout, threads), timeNativeBf16(addon, M, N, K, layout));
      }
    }
  } finally {
    addon.setThreads(before);
  }
  return { native, nativeBf16, peaks, torch: await timeTorch(cases) };
}

export async function benchGemm(): Promise<string[]> {
  const addon = loadNativeAddon();
  if (addon === null) return ['gemm: native addon not built (npm ci builds it); nothing to measure'];
  const { path } = addon.kernelPaths();
  const lines = [`gemm: kernel path ${path}, micro-kernel ${addon.kernelName()}; shapes M x N x K, ` +
    `C (M, N) = op(A) (M, K) @ op(B) (K, N); medians of ${ROUNDS} rounds, ratios per round (range)`];
  const cases: [number, number, number, Layout, number][] = THREADS.flatMap((threads) =>
    SHAPES.flatMap(([M, N, K, layouts]) => layouts.map((layout): [number, number, number, Layout, number] => [M, N, K, layout, threads])));
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await measureRound(addon, cases));
  const torchMissing = rounds.find((r) => typeof r.torch === 'string')?.torch;
  if (typeof torchMissing === 'string') lines.push(`gemm: ${torchMissing}`);
  for (const threads of THREADS) {
    const ymm = median(rounds.map((r) => (r.peaks.get(threads) as { ymm: number }).ymm));
    const widest = rounds.map((r) => (r.peaks.get(threads) as { widest: number }).widest);
    lines.push(`gemm: ${threads} thread(s), FMA peak ymm ${ymm.toFixed(1)}, ${path} path (${widestRegisters(path)}) ` +
      `${median(widest).toFixed(1)} GFLOP/s (CPU-time basis); columns: wall GFLOP/s, CPU-time GFLOP/s, % of the ` +
      'widest peak[, torch fp32 wall GFLOP/s, native/torch fp32 by wall clock]; native bf16 (matmulBf16, NN and NT) ' +
      'wall GFLOP/s[, torch bf16 wall GFLOP/s, native/torch bf16]');
    for (const [M, N, K, layout] of cases.filter((c) => c[4] === threads)) {
      const k = key(M, N, K, layout, threads);
      const rates = rounds.map((r) => r.native.get(k) as Rates);
      const pct = rates.map((r, i) => (100 * r.cpu) / widest[i]);
      let line = `  ${`${M}x${N}x${K}`.padEnd(15)} ${layout} ${median(rates.map((r) => r.wall)).toFixed(1).padStart(6)} ` +
        `${median(rates.map((r) => r.cpu)).toFixed(1).padStart(6)} ${median(pct).toFixed(0).padStart(4)}% ` +
        `(${Math.min(...pct).toFixed(0)}-${Math.max(...pct).toFixed(0)})`;
      if (torchMissing === undefined) {
        const fp32 = rounds.map((r) => (r.torch as Map<string, number>).get(`${k} float32`) as number);
        line += `   torch fp32 ${median(fp32).toFixed(1).padStart(6)}  ${spread(rates.map((r, i) => r.wall / fp32[i]))}`;
      }
      if (layout !== 'TN') {
        const ours = rounds.map((r) => r.nativeBf16.get(k) as number);
        line += `   bf16 ${median(ours).toFixed(1).padStart(6)}`;
        if (torchMissing === undefined) {
          const bf16 = rounds.map((r) => (r.torch as Map<string, number>).get(`${k} bfloat16`) as number);
          line += `  torch bf16 ${median(bf16).toFixed(1).padStart(6)}  ${spread(ours.map((x, i) => x / bf16[i]))}`;
        }
      }
      lines.push(line);
    }
  }
  return lines;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const line of await benchGemm()) console.log(line);
}
