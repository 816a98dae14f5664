// Examples -> token rows for a stage, serially or split across worker threads. Every example is encoded on its own
// and the chunks are joined in order, so the rows are the same bits whatever the number of workers; packing and
// pre-training blocks are formed afterwards from the joined list, batch by batch.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RetuneError, UsageError } from '../util/errors.js';
import type { DataStage, Example } from './converter.js';
import type { TokenizedRow } from './dataset-store.js';
import { packRows } from './packing.js';
import { encodeFeedback, encodePairwise, encodePretrainText, encodeSupervised, pretrainRows, type ProcessOptions } from './processors.js';
import type { Template } from './template.js';
import type { AddedToken, Tokenizer } from './tokenizer.js';

// Below this many examples a worker's start-up (it loads the tokenizer again) costs more than it saves.
const PARALLEL_MIN_EXAMPLES = 4000;
const MAX_WORKERS = 8;

// pt gives one id list per text; the other stages one finished row per example.
export type Encoded = TokenizedRow | Int32Array;

export function encodeExample(stage: DataStage, example: Example, klSource: Example, template: Template, tokenizer: Tokenizer, opts: ProcessOptions): Encoded {
  try {
    switch (stage) {
      case 'pt':
        return encodePretrainText(example, tokenizer, opts);
      case 'sft':
        return encodeSupervised(example, template, tokenizer, opts);
      case 'rm':
      case 'dpo':
        return encodePairwise(example, template, tokenizer, opts);
      case 'kto':
        return encodeFeedback(example, klSource, template, tokenizer, opts);
    }
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${example.where}: ${err.message}`);
    throw err;
  }
}

// LLaMA-Factory maps the examples in batches of preprocessing_batch_size, and three things happen within a batch:
// KTO pairs each prompt with the previous example's answer (the batch's first with the batch's last), packed
// pre-training drops the tail of each batch's text that does not fill a block, and sft packing groups samples.
function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

// The example whose answer forms the KTO KL pair of each example: the previous one within its batch, cyclically.
function klSourcesOf(examples: Example[], batchSize: number): Example[] {
  return batches(examples, batchSize).flatMap((batch) => batch.map((_, i) => batch[(i + batch.length - 1) % batch.length]));
}

export function encodeSerial(stage: DataStage, examples: Example[], klSources: Example[], template: Template, tokenizer: Tokenizer, opts: ProcessOptions): Encoded[] {
  return examples.map((e, i) => encodeExample(stage, e, klSources[i], template, tokenizer, opts));
}

// workers: null picks one per core for large datasets; 1 (or 0) keeps everything on this thread.
export async function tokenizeExamples(
  examples: Example[],
  template: Template,
  tokenizer: Tokenizer,
  stage: DataStage,
  opts: ProcessOptions,
  workers: number | null = null,
): Promise<{ rows: TokenizedRow[]; dropped: number }> {
  const klSources = klSourcesOf(examples, opts.batchSize);
  const count = workers ?? (examples.length >= PARALLEL_MIN_EXAMPLES ? Math.min(availableParallelism(), MAX_WORKERS) : 1);
  const encoded =
    count > 1 && examples.length > 1
      ? await encodeParallel(stage, examples, klSources, template, tokenizer, opts, Math.min(count, examples.length))
      : encodeSerial(stage, examples, klSources, template, tokenizer, opts);
  if (stage === 'pt') {
    const rows = batches(encoded as Int32Array[], opts.batchSize).flatMap((texts) => pretrainRows(texts, tokenizer, opts));
    return { rows, dropped: 0 };
  }
  const rows = encoded as TokenizedRow[];
  if (stage !== 'sft' || !opts.packing) return { rows, dropped: 0 };
  const packed = batches(rows, opts.batchSize).map((batch) => packRows(batch, opts.cutoffLen));
  return { rows: packed.flatMap((p) => p.rows), dropped: packed.reduce((n, p) => n + p.dropped, 0) };
}

export interface WorkerJob {
  stage: DataStage;
  examples: Example[];
  klSources: Example[];
  template: ReturnType<Template['describe']>;
  tokenizer: { dir: string; added: AddedToken[]; eosToken: string | null; padToken: string | null };
  opts: ProcessOptions;
}

export type WorkerReply = { rows: Encoded[] } | { error: { usage: boolean; message: string } };

async function encodeParallel(
  stage: DataStage,
  examples: Example[],
  klSources: Example[],
  template: Template,
  tokenizer: Tokenizer,
  opts: ProcessOptions,
  count: number,
): Promise<Encoded[]> {
  const size = Math.ceil(examples.length / count);
  const jobs: Promise<Encoded[]>[] = [];
  for (let start = 0; start < examples.length; start += size) {
    const job: WorkerJob = {
      stage,
      examples: examples.slice(start, start + size),
      klSources: klSources.slice(start, start + size),
      template: template.describe(),
      tokenizer: { dir: tokenizer.dir, added: tokenizer.added, eosToken: tokenizer.eosToken, padToken: tokenizer.padToken },
      opts,
    };
    jobs.push(runWorker(job));
  }
  return (await Promise.all(jobs)).flat();
}

function runWorker(job: WorkerJob): Promise<Encoded[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./tokenize-worker.js', import.meta.url), { workerData: job });
    worker.once('message', (reply: WorkerReply) => {
      if ('rows' in reply) resolve(reply.rows);
      else reject(reply.error.usage ? new UsageError(reply.error.message) : new RetuneError(reply.error.message));
    });
    worker.once('error', (err) => reject(new RetuneError(`tokenization worker failed: ${err.message}`)));
    worker.once('exit', (code) => {
      if (code !== 0) reject(new RetuneError(`tokenization worker exited with code ${code}`));
    });
  });
}
