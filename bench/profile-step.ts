// Where a training step's time goes: the train-step bench's model and step, with every backend kernel call timed
// and grouped by kernel and shape (GEMMs by M x N x K and layout, paired products by both). Not part of
// `npm run bench`; run it when working on speed, on a quiet machine:
//   RETUNE_THREADS=2 node dist/bench/profile-step.js [steps] [bf16]
// "other" is the step's time outside kernels (JS bookkeeping, copies, allocation).
import { getBackend } from '../src/backend/index.js';
import { instrument, tableLines } from './kernel-timer.js';
import { makeTrainStep } from './train-step.js';

function main(): void {
  const steps = Number(process.argv[2] ?? 3);
  const { step, tokens } = makeTrainStep(process.argv[3] === 'bf16');
  step(); // warm-up: first touch of every buffer, before the kernels are timed
  const { table } = instrument(getBackend());
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const stepMs = (performance.now() - start) / steps;
  let kernelMs = 0;
  for (const e of table.values()) kernelMs += e.ms / steps;
  console.log(`per step (mean of ${steps}), ${getBackend().name} backend, ${getBackend().threads} threads:`);
  for (const line of tableLines(table, steps, stepMs * steps)) console.log(line);
  console.log(`step ${stepMs.toFixed(1)} ms (${((tokens / stepMs) * 1000).toFixed(0)} tok/s): kernels ${kernelMs.toFixed(1)} ms, ` +
    `other ${(stepMs - kernelMs).toFixed(1)} ms`);
}

main();
