// `npm run bench`: every benchmark in one run, each printed side by side with its PyTorch or peak baseline. Never
// run by CI. Sections can be chosen by name: `npm run bench -- gemm train`.
import { cpus } from 'node:os';
import { getBackend } from '../src/backend/index.js';
import { benchAttention } from './attention.js';
import { benchDpoStep } from './dpo-step.js';
import { benchApiLoad } from './api-load.js';
import { benchDecode } from './decode.js';
import { benchDecodeLarge } from './decode-large.js';
import { benchGemm } from './gemm.js';
import { benchLoraMemory } from './lora-memory.js';
import { benchLoraSft } from './lora-sft.js';
import { benchTokenize } from './tokenize.js';
import { benchTrainStep } from './train-step.js';

const SECTIONS: [string, () => Promise<string[]>][] = [
  ['gemm', benchGemm],
  ['train', benchTrainStep],
  ['attention', benchAttention],
  ['dpo', benchDpoStep],
  ['memory', benchLoraMemory],
  ['lora', () => benchLoraSft()],
  ['tokenize', benchTokenize],
  ['decode', benchDecode],
  ['decode-0.5b', benchDecodeLarge],
  ['api', benchApiLoad],
];

const chosen = process.argv.slice(2);
const backend = getBackend();
console.log(`retune bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, backend ${backend.name}, ` +
  `kernel path ${backend.kernelPath}, node ${process.version}`);
for (const [name, run] of SECTIONS) {
  if (chosen.length > 0 && !chosen.includes(name)) continue;
  console.log('');
  for (const line of await run()) console.log(line);
}
