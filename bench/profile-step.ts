// Where a training step's time goes: the train-step bench's model and step, with every backend kernel call timed
// and grouped by kernel and shape (GEMMs by M x N x K and layout, paired products by both). Not part of
// `npm run bench`; run it when working on speed, on a quiet machine:
//   RETUNE_THREADS=2 node dist/bench/profile-step.js [steps]
// "other" is the step's time outside kernels (JS bookkeeping, copies, allocation). Then the heaviest float32 GEMM
// shapes run alone on fresh buffers, in rounds alternating with whole steps, so that a shape slower inside the step
// than alone (cache pollution, the pairing) shows at the same machine load.
import type { Backend, MatmulArgs } from '../src/backend/backend.js';
import { getBackend } from '../src/backend/index.js';
import { makeTrainStep } from './train-step.js';

interface Entry {
  calls: number;
  ms: number;
  flops: number; // of the GEMMs among the calls
  replay?: () => void; // the call again on fresh buffers of the same sizes, for a float32 GEMM
}

// How many of the heaviest GEMM shapes are replayed alone after each step.
const REPLAYED = 6;

function shape(m: MatmulArgs): string {
  const layout = `${m.transA ? 'T' : 'N'}${m.transB ? 'T' : 'N'}${m.accumulate ? '+' : ''}`;
  return `${m.batch > 1 ? `${m.batch}x ` : ''}${m.M}x${m.N}x${m.K} ${layout}`;
}

function gemmFlops(m: MatmulArgs): number {
  return 2 * m.batch * m.M * m.N * m.K;
}

// One product's operands, filled so that no value is denormal: A (batch, M, K), B (batch, K, N), C (batch, M, N).
function operands(m: MatmulArgs): [Float32Array, Float32Array, Float32Array] {
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1024) / 1024 - 0.5);
  return [fill(m.batch * m.M * m.K), fill(m.batch * m.K * m.N), fill(m.batch * m.M * m.N)];
}

// A matmul or matmulPair of these arguments again, alone, through the un-instrumented kernel. Its buffers are made
// on the first replay, so that recording it costs the timed step nothing.
function replayOf(name: string, kernel: (...a: unknown[]) => unknown, args: unknown[]): (() => void) | undefined {
  if (name !== 'matmul' && name !== 'matmulPair') return undefined;
  const shapes = (name === 'matmul' ? [args[3]] : [args[3], args[7]]) as MatmulArgs[];
  let callArgs: unknown[] | null = null;
  return () => {
    callArgs ??= shapes.flatMap((m) => [...operands(m), m]);
    kernel(...callArgs);
  };
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
      const entry = table.get(key) ?? { calls: 0, ms: 0, flops: 0, replay: replayOf(name, kernel as (...a: unknown[]) => unknown, args) };
      entry.calls++;
      entry.ms += ms;
      entry.flops += flops;
      table.set(key, entry);
      return result;
    };
  }
  return table;
}

// Milliseconds for `calls` replays, measured over the next whole number of them.
function timeReplays(replay: () => void, calls: number): number {
  const start = performance.now();
  for (let i = 0; i < Math.ceil(calls); i++) replay();
  return ((performance.now() - start) * calls) / Math.ceil(calls);
}

function gflops(flops: number, ms: number): string {
  return `${(flops / ms / 1e6).toFixed(0).padStart(5)} GFLOP/s`;
}

function main(): void {
  const steps = Number(process.argv[2] ?? 3);
  const { step, tokens } = makeTrainStep();
  step(); // warm-up: first touch of every buffer, before the kernels are timed
  const table = instrument(getBackend());
  // Each step is followed by the heaviest GEMM shapes alone, as many calls as one step makes: a round each.
  let stepMs = 0;
  let heaviest: [string, Entry][] = [];
  const aloneMs = new Map<string, number>();
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    step();
    stepMs += performance.now() - start;
    if (i === 0) {
      heaviest = [...table.entries()].filter(([, e]) => e.replay).sort((a, b) => b[1].ms - a[1].ms).slice(0, REPLAYED);
      for (const [, e] of heaviest) e.replay?.(); // untimed: makes the buffers and touches them
    }
    for (const [key, e] of heaviest) aloneMs.set(key, (aloneMs.get(key) ?? 0) + timeReplays(e.replay as () => void, e.calls / (i + 1)));
  }
  stepMs /= steps;
  const rows = [...table.entries()].sort((a, b) => b[1].ms - a[1].ms);
  let kernelMs = 0;
  console.log(`per step (mean of ${steps}), ${getBackend().name} backend, ${getBackend().threads} threads:`);
  for (const [key, e] of rows) {
    kernelMs += e.ms / steps;
    const rate = e.flops > 0 ? gflops(e.flops, e.ms) : ''.padStart(13);
    console.log(`${(e.ms / steps).toFixed(1).padStart(8)} ms ${String(e.calls / steps).padStart(4)} calls ${rate}  ${key}`);
  }
  console.log(`step ${stepMs.toFixed(1)} ms (${((tokens / stepMs) * 1000).toFixed(0)} tok/s): kernels ${kernelMs.toFixed(1)} ms, ` +
    `other ${(stepMs - kernelMs).toFixed(1)} ms`);
  console.log('the heaviest GEMM shapes alone (fresh buffers, after each step) vs in the step:');
  for (const [key, e] of heaviest) {
    console.log(`${gflops(e.flops, aloneMs.get(key) as number)} alone ${gflops(e.flops, e.ms)} in the step  ${key}`);
  }
}

main();
