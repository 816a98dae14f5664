// Times every backend kernel call, grouped by kernel and shape (GEMMs by M x N x K and layout, paired products by
// both), for the profile drivers (profile-step.ts, profile-job.ts).
import type { Backend, MatmulArgs } from '../src/backend/backend.js';

export interface Entry {
  calls: number;
  ms: number;
  flops: number; // of the GEMMs among the calls
}

function shape(m: MatmulArgs): string {
  const layout = `${m.transA ? 'T' : 'N'}${m.transB ? 'T' : 'N'}${m.accumulate ? '+' : ''}`;
  return `${m.batch > 1 ? `${m.batch}x ` : ''}${m.M}x${m.N}x${m.K} ${layout}`;
}

function gemmFlops(m: MatmulArgs): number {
  return 2 * m.batch * m.M * m.N * m.K;
}

export interface Timings {
  table: Map<string, Entry>;
  firstCall: number; // performance.now() at the first timed call; Infinity before it
}

// Replaces each kernel of the backend object with a timed wrapper; returns what the wrappers fill in.
export function instrument(backend: Backend): Timings {
  const timings: Timings = { table: new Map<string, Entry>(), firstCall: Infinity };
  const table = timings.table;
  const kernels = backend as unknown as Record<string, unknown>;
  for (const name of Object.keys(kernels)) {
    const kernel = kernels[name];
    if (typeof kernel !== 'function') continue;
    kernels[name] = (...args: unknown[]) => {
      const start = performance.now();
      timings.firstCall = Math.min(timings.firstCall, start);
      const result = (kernel as (...a: unknown[]) => unknown)(...args);
      const ms = performance.now() - start;
      let key = name;
      let flops = 0;
      if (name === 'matmul' || name === 'matmulBf16') {
        key = `${name} ${shape(args[3] as MatmulArgs)}`;
        flops = gemmFlops(args[3] as MatmulArgs);
      } else if (name === 'matmulPair') {
        key = `matmulPair ${shape(args[3] as MatmulArgs)} | ${shape(args[7] as MatmulArgs)}`;
        flops = gemmFlops(args[3] as MatmulArgs) + gemmFlops(args[7] as MatmulArgs);
      }
      const entry = table.get(key) ?? { calls: 0, ms: 0, flops: 0 };
      entry.calls++;
      entry.ms += ms;
      entry.flops += flops;
      table.set(key, entry);
      return result;
    };
  }
  return timings;
}

// One line per key, most time first: ms and calls per `per` (a step, or the whole run), GFLOP/s of the GEMMs, and
// the share of `totalMs`.
export function tableLines(table: Map<string, Entry>, per: number, totalMs: number): string[] {
  return [...table.entries()].sort((a, b) => b[1].ms - a[1].ms).map(([key, e]) => {
    const rate = e.flops > 0 ? `${(e.flops / e.ms / 1e6).toFixed(0).padStart(5)} GFLOP/s` : ''.padStart(13);
    const share = `${((100 * e.ms) / totalMs).toFixed(1).padStart(5)} %`;
    return `${(e.ms / per).toFixed(1).padStart(8)} ms ${String(e.calls / per).padStart(5)} calls ${share} ${rate}  ${key}`;
  });
}
