// Where a training step's time goes: the train-step bench's model and step, with every backend kernel call timed
// and grouped by kernel and shape (GEMMs by M x N x K and layout, paired products by both). Not part of
// `npm run bench`; run it when working on speed, on a quiet machine:
//   RETUNE_THREADS=2 node dist/bench/profile-step.js [steps]
// "other" is the step's time outside kernels (JS bookkeeping, copies, allocation).
import type { Backend, MatmulArgs } from '../src/backend/backend.js';
import { getBackend } from '../src/backend/index.js';
import { makeTrainStep } from './train-step.js';

interface Entry {
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

// Replaces each kernel of the backend object with a timed wrapper; returns the table the wrappers fill.
function instrument(backend: Backend): Map<string, Entry> {
  const table = new Map<string, Entry>();
  const kernels = backend as unknown as Record<string, unknown>;
  for (const name of Object.keys(kernels)) {
    const kernel = kernels[name];
    if (typeof kernel !== 'function') continue;
    kernels[name] = (...args: unknown[]) => {
      const start = performance.now();
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
  return table;
}

function main(): void {
  const steps = Number(process.argv[2] ?? 3);
  const { step, tokens } = makeTrainStep();
  step(); // warm-up: first touch of every buffer, before the kernels are timed
  const table = instrument(getBackend());
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const stepMs = (performance.now() - start) / steps;
  const rows = [...table.entries()].sort((a, b) => b[1].ms - a[1].ms);
  let kernelMs = 0;
  console.log(`per step (mean of ${steps}), ${getBackend().name} backend, ${getBackend().threads} threads:`);
  for (const [key, e] of rows) {
    kernelMs += e.ms / steps;
    const rate = e.flops > 0 ? `${(e.flops / e.ms / 1e6).toFixed(0).padStart(5)} GFLOP/s` : ''.padStart(13);
    console.log(`${(e.ms / steps).toFixed(1).padStart(8)} ms ${String(e.calls / steps).padStart(4)} calls ${rate}  ${key}`);
  }
  console.log(`step ${stepMs.toFixed(1)} ms (${((tokens / stepMs) * 1000).toFixed(0)} tok/s): kernels ${kernelMs.toFixed(1)} ms, ` +
    `other ${(stepMs - kernelMs).toFixed(1)} ms`);
}

main();
