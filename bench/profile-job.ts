// Where a whole `retune train` run's time goes: loaded before the CLI, it times every backend kernel call of the run
// (kernel-timer.ts) and prints the table on stderr when the process exits, with the share of the time since the
// first kernel call (model loading before it is left out; the first, untimed-by-the-trainer step is in). Not part of `npm run bench`. For the LoRA SFT job, on the
// config and data that bench/lora-sft.ts writes:
//   RETUNE_THREADS=1 node --import ./dist/bench/profile-job.js bin/retune.js train <config.yaml>
// "other" is the time outside kernels (JS: tape, allocation, copies; logging, the optimizer's JS side).
import { getBackend } from '../src/backend/index.js';
import { instrument, tableLines } from './kernel-timer.js';

const backend = getBackend();
const timings = instrument(backend);

process.on('exit', () => {
  const { table, firstCall } = timings;
  let kernelMs = 0;
  for (const e of table.values()) kernelMs += e.ms;
  const totalMs = performance.now() - firstCall;
  const lines = [`whole run, ${backend.name} backend, path ${backend.kernelPath}, ${backend.threads} threads:`,
    ...tableLines(table, 1, totalMs),
    `${totalMs.toFixed(0)} ms since the first kernel call: kernels ${kernelMs.toFixed(0)} ms, other ${(totalMs - kernelMs).toFixed(0)} ms`];
  process.stderr.write(lines.join('\n') + '\n');
});
