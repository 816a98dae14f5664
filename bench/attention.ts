// Causal attention forward and backward of the native kernel against torch's scaled_dot_product_attention (float32,
// and bf16 as PyTorch runs a bf16 model) at two training shapes: the LoRA job's Qwen2.5-0.5B layer (T=512, 14 heads,
// 2 kv heads, hd 64, one sequence) and the train step's stories15M layer (B=8, T=256, 6 heads, hd 48). Each figure is
// the best call of a loop of at least MIN_SECONDS; Retune and torch alternate which goes first, round by round, and
// the ratios (torch / Retune time) are taken inside each round. The backward is timed alone for Retune; torch's is its
// forward + backward less its forward. Needs the repo's .venv for the baseline.
// Run: node dist/bench/attention.js, or `npm run bench -- attention`.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon, type NativeAddon } from '../src/backend/native.js';

interface Shape {
  name: string;
  B: number;
  T: number;
  nHead: number;
  nKV: number;
  hd: number;
}

const SHAPES: Shape[] = [
  { name: 'Qwen2.5-0.5B layer', B: 1, T: 512, nHead: 14, nKV: 2, hd: 64 },
  { name: 'stories15M layer', B: 8, T: 256, nHead: 6, nKV: 6, hd: 48 },
];
const THREADS = [1, 2];
const ROUNDS = Number(process.env.RETUNE_BENCH_ROUNDS ?? 3);
const MIN_SECONDS = 0.5;
const pythonPath = fileURLToPath(new URL('../../.venv/bin/python', import.meta.url));

interface Times {
  fwd: number; // ms
  bwd: number; // ms
}

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function best(fn: () => void): number {
  fn();
  let ms = Infinity;
  const start = performance.now();
  while (performance.now() - start < MIN_SECONDS * 1000) {
    const t0 = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms;
}

function timeNative(addon: NativeAddon, s: Shape, threads: number): Times {
  addon.setThreads(threads);
  const q = randomArray(s.B * s.T * s.nHead * s.hd), k = randomArray(s.B * s.T * s.nKV * s.hd);
  const v = randomArray(k.length), dOut = randomArray(q.length);
  const out = new Float32Array(q.length), lse = new Float32Array(s.B * s.nHead * s.T);
  const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(k.length);
  const args = { B: s.B, T: s.T, nHead: s.nHead, nKV: s.nKV, hd: s.hd, scale: 1 / Math.sqrt(s.hd), window: null, segments: null };
  const fwd = best(() => addon.attention(q, k, v, out, lse, args));
  const bwd = best(() => addon.attentionBackward(dOut, q, k, v, out, lse, dq, dk, dv, args));
  return { fwd, bwd };
}

const TORCH_SCRIPT = `
import json, sys, time, torch
import torch.nn.functional as F
B, T, H, KV, hd, threads, seconds = json.loads(sys.argv[1])
torch.set_num_threads(threads)
out = {}
for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
    q = torch.randn(B, H, T, hd, dtype=dtype, requires_grad=True)
    k = torch.randn(B, KV, T, hd, dtype=dtype, requires_grad=True)
    v = torch.randn(B, KV, T, hd, dtype=dtype, requires_grad=True)
    def fwd():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=KV != H)
    def both():
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=KV != H)
        o.backward(torch.ones_like(o))
    def best(fn):
        fn()
        ms, start = float("inf"), time.perf_counter()
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            fn()
            ms = min(ms, (time.perf_counter() - t0) * 1e3)
        return ms
    f = best(fwd)
    out[name] = {"fwd": f, "bwd": best(both) - f}
print(json.dumps(out))
`;

function timeTorch(s: Shape, threads: number): Promise<Record<string, Times> | string> {
  if (!existsSync(pythonPath)) return Promise.resolve('no .venv: torch comparison skipped');
  const args = JSON.stringify([s.B, s.T, s.nHead, s.nKV, s.hd, threads, MIN_SECONDS]);
  return new Promise((resolve) => {
    execFile(pythonPath, ['-c', TORCH_SCRIPT, args], { timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: String(threads) } },
      (err, stdout) => {
        if (err) resolve(`torch comparison failed: ${err.message.split('\n')[0]}`);
        else resolve(JSON.parse(stdout) as Record<string, Times>);
      });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function spread(values: number[]): string {
  return `${median(values).toFixed(2)}x (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
}

export async function benchAttention(): Promise<string[]> {
  const addon = loadNativeAddon();
  if (addon === null) return ['attention: native addon not built (npm ci builds it); nothing to measure'];
  const lines = [`attention: causal, kernel path ${addon.kernelPaths().path}; best call of ${MIN_SECONDS} s loops, ` +
    `${ROUNDS} interleaved rounds, medians; ratio = torch time / Retune time per round (range)`];
  const before = addon.getThreads();
  try {
    for (const s of SHAPES) {
      for (const threads of THREADS) {
        const ours: Times[] = [];
        const theirs: Record<string, Times>[] = [];
        let missing: string | undefined;
        for (let r = 0; r < ROUNDS; r++) {
          const order = r % 2 === 0 ? ['retune', 'torch'] : ['torch', 'retune'];
          for (const who of order) {
            if (who === 'retune') ours.push(timeNative(addon, s, threads));
            else {
              const t = await timeTorch(s, threads);
              if (typeof t === 'string') missing = t;
              else theirs.push(t);
            }
          }
        }
        const ms = (xs: number[]): string => `${median(xs).toFixed(2)} ms`;
        let line = `  ${s.name} (B=${s.B} T=${s.T} heads ${s.nHead}/${s.nKV} hd ${s.hd}), ${threads} thread(s): Retune fwd ` +
          `${ms(ours.map((t) => t.fwd))} bwd ${ms(ours.map((t) => t.bwd))}`;
        if (missing !== undefined || theirs.length < ours.length) line += ` | ${missing ?? 'torch comparison incomplete'}`;
        else {
          for (const dtype of ['float32', 'bfloat16']) {
            const fwd = theirs.map((t) => t[dtype].fwd), bwd = theirs.map((t) => t[dtype].bwd);
            line += ` | torch ${dtype} fwd ${ms(fwd)} ${spread(fwd.map((x, i) => x / ours[i].fwd))}, bwd ${ms(bwd)} ` +
              `${spread(bwd.map((x, i) => x / ours[i].bwd))}`;
          }
        }
        lines.push(line);
      }
    }
  } finally {
    addon.setThreads(before);
  }
  return lines;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const line of await benchAttention()) console.log(line);
}
