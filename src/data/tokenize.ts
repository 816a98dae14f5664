// Examples -> token rows for a stage, laid out as LLaMA-Factory lays them out: its `datasets.map(batched=True,
// num_proc=preprocessing_num_workers)` cuts the rows into that many contiguous shards and each shard into batches of
// preprocessing_batch_size, and a batch is where rows without an answer are dropped, KTO pairs each prompt with the
// previous example's answer, packed pre-training drops the tail that does not fill a block, and sft packing groups
// samples. Each example is then encoded on its own, serially or on worker threads, and the chunks are joined in
// order, so the rows depend on the configured worker count but never on how many threads really encode them.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RetuneError, UsageError } from '../util/errors.js';
import type { DataStage, Example } from './converter.js';
import type { TokenizedRow } from './dataset-store.js';
import { packRows } from './packing.js';
import { encodeFeedback, encodePairwise, encodePretrainText, encodeSupervised, pretrainRows, type ProcessOptions } from './processors.js';
import type { Template } from './template.js';
import type { AddedToken, Tokenizer } from './tokenizer.js';

// Fewer examples than this per worker: its start-up (it loads the tokenizer again) costs more than it saves.
const EXAMPLES_PER_WORKER = 2000;
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

// The sizes of datasets' contiguous shards (Dataset.shard(contiguous=True)): num_proc unset or 0 is one shard, it
// never exceeds the row count, and the first (rows % shards) shards hold one row more.
export function shardSizes(rows: number, numProc: number | null): number[] {
  const count = Math.min(Math.max(numProc ?? 1, 1), rows);
  const size = Math.floor(rows / count);
  return Array.from({ length: count }, (_, i) => size + (i < rows % count ? 1 : 0));
}

function chunks<T>(items: T[], sizes: number[]): T[][] {
  let start = 0;
  return sizes.map((size) => items.slice(start, (start += size)));
}

function batches<T>(items: T[], size: number): T[][] {
  return chunks(items, Array.from({ length: Math.ceil(items.length / size) }, () => size));
}

// Each batch's usable examples: the rows without an answer (null) are dropped inside the batch they fell in. KTO rows
// always have an answer, so pairing within a batch's usable examples is pairing within LLaMA-Factory's raw batch.
function layoutBatches(rows: (Example | null)[], numProc: number | null, batchSize: number): Example[][] {
  return chunks(rows, shardSizes(rows.length, numProc))
    .flatMap((shard) => batches(shard, batchSize))
    .map((batch) => batch.filter((row): row is Example => row !== null));
}

// The example whose answer forms the KTO KL pair of each example: the previous one within its batch, cyclically.
function klSourcesOf(layout: Example[][]): Example[] {
  return layout.flatMap((batch) => batch.map((_, i) => batch[(i + batch.length - 1) % batch.length]));
}

// Worker threads to encode `examples` with: preprocessing_num_workers asks (unset: one per core), capped by the
// cores, MAX_WORKERS and one worker per EXAMPLES_PER_WORKER examples.
export function workerThreads(requested: number | null, examples: number): number {
  const cores = availableParallelism();
  return Math.max(1, Math.min(requested ?? cores, cores, MAX_WORKERS, Math.floor(examples / EXAMPLES_PER_WORKER)));
}

export function encodeSerial(stage: DataStage, examples: Example[], klSources: Example[], template: Template, tokenizer: Tokenizer, opts: ProcessOptions): Encoded[] {
  return examples.map((e, i) => encodeExample(stage, e, klSources[i], template, tokenizer, opts));
}

export interface Layout {
  numProc: number | null; // preprocessing_num_workers as configured: decides the shards, and so the rows
  threads: number; // worker threads that really encode (1: this thread); never changes the rows
}

// rows: the converted rows in order, null where a row has no answer (see convertRow).
export async function tokenizeExamples(
  rows: (Example | null)[],
  template: Template,
  tokenizer: Tokenizer,
  stage: DataStage,
  opts: ProcessOptions,
  layout: Layout,
): Promise<{ rows: TokenizedRow[]; dropped: number }> {
  const batched = layoutBatches(rows, layout.numProc, opts.batchSize);
  const examples = batched.flat();
  const klSources = klSourcesOf(batched);
  const count = Math.min(layout.threads, examples.length);
  const encoded = count > 1
    ? await encodeParallel(stage, examples, klSources, template, tokenizer, opts, count)
    : encodeSerial(stage, examples, klSources, template, tokenizer, opts);
  const encodedBatches = chunks(encoded, batched.map((batch) => batch.length));
  const unanswered = rows.length - examples.length;
  if (stage === 'pt') {
    return { rows: (encodedBatches as Int32Array[][]).flatMap((texts) => pretrainRows(texts, tokenizer, opts)), dropped: unanswered };
  }
  if (stage !== 'sft' || !opts.packing) return { rows: encoded as TokenizedRow[], dropped: unanswered };
  const packed = (encodedBatches as TokenizedRow[][]).map((batch) => packRows(batch, opts.cutoffLen));
  return { rows: packed.flatMap((p) => p.rows), dropped: packed.reduce((n, p) => n + p.dropped, unanswered) };
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
