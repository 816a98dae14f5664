// One tokenization worker (see tokenize.ts): rebuilds the tokenizer and template exactly as the main thread has them
// (EOS/pad already fixed by the template), encodes its chunk and sends the rows back without copying.

import { parentPort, workerData } from 'node:worker_threads';
import { UsageError } from '../util/errors.js';
import type { TokenizedRow } from './dataset-store.js';
import { Template } from './template.js';
import { encodeSerial, type Encoded, type WorkerJob, type WorkerReply } from './tokenize.js';
import { loadTokenizer } from './tokenizer.js';

function buffersOf(rows: Encoded[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const row of rows) {
    if (row instanceof Int32Array) out.push(row.buffer as ArrayBuffer);
    else for (const value of Object.values(row as TokenizedRow)) if (value instanceof Int32Array) out.push(value.buffer as ArrayBuffer);
  }
  return [...new Set(out)];
}

async function main(job: WorkerJob): Promise<WorkerReply> {
  try {
    const tokenizer = await loadTokenizer(job.tokenizer.dir);
    for (const t of job.tokenizer.added) tokenizer.addTokens([t.content], t.special);
    if (job.tokenizer.eosToken !== null && tokenizer.eosToken !== job.tokenizer.eosToken) tokenizer.setEosToken(job.tokenizer.eosToken);
    if (job.tokenizer.padToken !== null && tokenizer.padToken !== job.tokenizer.padToken) {
      tokenizer.setPadToken(job.tokenizer.padToken, tokenizer.tokenToId(job.tokenizer.padToken) as number);
    }
    const template = Template.fromDescription(job.template);
    return { rows: encodeSerial(job.stage, job.examples, job.klSources, template, tokenizer, job.opts) };
  } catch (err) {
    return { error: { usage: err instanceof UsageError, message: (err as Error).message } };
  }
}

const reply = await main(workerData as WorkerJob);
parentPort?.postMessage(reply, 'rows' in reply ? buffersOf(reply.rows) : []);
