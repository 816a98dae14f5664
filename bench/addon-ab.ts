// One-process A/B of two builds of the native addon: the same calls on both, alternating which goes first round by
// round, with the ratio taken inside each round and the outputs compared bit for bit. On the shared VMs these
// sessions run on, a kernel's rate swings 2-5x from minute to minute, so separate runs (or runs of whole jobs) cannot
// show a 5-30 % change; two addons in one process, interleaved, can. Not part of `npm run bench`.
// Keep a copy of the baseline build (`cp native/build/Release/retune_native.node /tmp/old.node`), change the kernels
// and rebuild, then:
//   node dist/bench/addon-ab.js /tmp/old.node native/build/Release/retune_native.node [gemm|bf16|attention] [threads]
// Rounds from RETUNE_BENCH_ROUNDS (7).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from '../src/backend/native.js';

type Kind = 'gemm' | 'bf16' | 'attention';

interface Case {
  name: string;
  // Runs the call on one addon into that addon's own outputs; returns them for the bit comparison.
  make(addon: NativeAddon): () => Float32Array[];
  flops: number;
}

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    a[i] = (x / 2 ** 32) * 2 - 1;
  }
  return a;
}

function bf16Bits(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length), b = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) b[i] = u[i] >>> 16;
  return b;
}

// The LoRA job's (Qwen2.5-0.5B, 512 and 1024 rows, the LM head's chunks) and the train step's shapes.
const GEMM_SHAPES: [number, number, number, 'NN' | 'NT' | 'TN'][] = [
  [512, 4864, 896, 'NT'], [512, 896, 4864, 'NN'], [512, 896, 4864, 'NT'], [512, 4864, 896, 'NN'], [512, 896, 896, 'NT'],
  [1024, 4864, 896, 'NT'], [96, 151936, 896, 'NT'], [96, 896, 151936, 'NN'], [512, 32000, 288, 'NT'],
  [2048, 768, 288, 'NT'], [288, 768, 2048, 'TN'],
];

function gemmCases(bf16: boolean): Case[] {
  return GEMM_SHAPES.filter(([, , , layout]) => !bf16 || layout !== 'TN').map(([M, N, K, layout], i) => {
    const a = randomArray(M * K, 2 * i + 1), b = randomArray(K * N, 2 * i + 2), bBits = bf16Bits(b);
    const args = { batch: 1, M, N, K, transA: layout === 'TN', transB: layout === 'NT', accumulate: false };
    return {
      name: `${bf16 ? 'matmulBf16' : 'matmul'} ${M}x${N}x${K} ${layout}`,
      flops: 2 * M * N * K,
      make(addon) {
        const c = new Float32Array(M * N);
        return () => {
          if (bf16) addon.matmulBf16(a, bBits, c, args);
          else addon.matmul(a, b, c, args);
          return [c];
        };
      },
    };
  });
}

function attentionCases(): Case[] {
  return [[1, 512, 14, 2, 64], [8, 256, 6, 6, 48]].map(([B, T, nHead, nKV, hd], i) => {
    const q = randomArray(B * T * nHead * hd, 10 * i + 1), k = randomArray(B * T * nKV * hd, 10 * i + 2);
    const v = randomArray(k.length, 10 * i + 3), dOut = randomArray(q.length, 10 * i + 4);
    const args = { B, T, nHead, nKV, hd, scale: 1 / Math.sqrt(hd), window: null, segments: null };
    return {
      name: `attention + backward B=${B} T=${T} heads ${nHead}/${nKV} hd ${hd}`,
      flops: 0,
      make(addon) {
        const out = new Float32Array(q.length), lse = new Float32Array(B * nHead * T);
        const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(k.length);
        return () => {
          addon.attention(q, k, v, out, lse, args);
          addon.attentionBackward(dOut, q, k, v, out, lse, dq, dk, dv, args);
          return [out, lse, dq, dk, dv];
        };
      },
    };
  });
}

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.every((x, i) => {
    const u = new Uint32Array(x.buffer, x.byteOffset, x.length), w = new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length);
    return u.every((bits, j) => bits === w[j]);
  });
}

function median(xs: number[]): number {
  return [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
}

export function addonAb(oldPath: string, newPath: string, kind: Kind, threads: number, rounds: number): string[] {
  const require = createRequire(import.meta.url);
  const addons = [require(resolve(oldPath)) as NativeAddon, require(resolve(newPath)) as NativeAddon];
  if (addons[0] === addons[1]) throw new Error('the two paths load the same module: copy one of them elsewhere first');
  for (const addon of addons) addon.setThreads(threads);
  const cases = kind === 'attention' ? attentionCases() : gemmCases(kind === 'bf16');
  const lines = [`addon A/B, ${kind}, ${threads} thread(s), ${rounds} rounds; new/old speed per round (median), and ` +
    'whether the outputs have the same bits'];
  for (const c of cases) {
    const runs = addons.map((addon) => c.make(addon));
    const same = sameBits(runs[0](), runs[1]());
    const t0 = performance.now();
    runs[0]();
    const reps = Math.max(1, Math.round(300 / Math.max(performance.now() - t0, 0.01)));
    const ratios: number[] = [];
    const ms: number[][] = [[], []];
    for (let r = 0; r < rounds; r++) {
      const time = [0, 0];
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        const start = performance.now();
        for (let j = 0; j < reps; j++) runs[i]();
        time[i] = (performance.now() - start) / reps;
        ms[i].push(time[i]);
      }
      ratios.push(time[0] / time[1]);
    }
    const rate = (t: number): string => (c.flops > 0 ? `${(c.flops / t / 1e6).toFixed(0)} GFLOP/s` : `${t.toFixed(2)} ms`);
    lines.push(`  ${c.name}: old ${rate(median(ms[0]))}, new ${rate(median(ms[1]))}; new/old ${median(ratios).toFixed(2)}x ` +
      `[${ratios.map((x) => x.toFixed(2)).join(' ')}] ${same ? 'same bits' : 'BITS DIFFER'}`);
  }
  return lines;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [oldPath, newPath, kind = 'gemm', threads = '1'] = process.argv.slice(2);
  if (oldPath === undefined || newPath === undefined || !['gemm', 'bf16', 'attention'].includes(kind)) {
    console.error('usage: node dist/bench/addon-ab.js <old.node> <new.node> [gemm|bf16|attention] [threads]');
    process.exit(2);
  }
  for (const line of addonAb(oldPath, newPath, kind as Kind, Number(threads), Number(process.env.RETUNE_BENCH_ROUNDS ?? 7))) {
    console.log(line);
  }
}
