// prepareDataset: config + tokenizer -> tokenized train (and eval) rows, LLaMA-Factory's get_dataset. Read each
// dataset's files, apply num_samples / max_samples, convert rows to examples, merge with mix_strategy, split off
// eval, tokenise for the stage, pack, and cache the result under tokenized_path keyed by the fingerprint.

import { join, resolve } from 'node:path';
import type { RetuneConfig } from '../config/schema.js';
import { UsageError } from '../util/errors.js';
import { fingerprintOf, loadCached, saveCached, sha256File } from './cache.js';
import { convertRow, type DataStage, type Example } from './converter.js';
import { datasetAttr, readDatasetInfo, type DatasetAttr } from './dataset-info.js';
import { TokenizedDataset } from './dataset-store.js';
import { mergeDatasets, parseProbs, sampleCount, splitTrainEval } from './mix.js';
import type { ProcessOptions } from './processors.js';
import { dataFiles, readRows } from './readers.js';
import { resolveTemplate, type TemplateArgs } from './template-resolve.js';
import { tokenizeExamples, workerThreads } from './tokenize.js';
import type { Template } from './template.js';
import type { Tokenizer } from './tokenizer.js';

// The config keys this layer reads, checked and resolved by the config schema.
export type DataArgs = TemplateArgs & Pick<RetuneConfig,
  | 'dataset' | 'dataset_dir' | 'eval_dataset' | 'cutoff_len' | 'max_samples' | 'val_size' | 'mix_strategy'
  | 'interleave_probs' | 'mask_history' | 'packing' | 'neat_packing' | 'tokenized_path' | 'overwrite_cache' | 'seed'
  | 'preprocessing_num_workers' | 'preprocessing_batch_size'>;

export interface PreparedData {
  train: TokenizedDataset;
  eval: TokenizedDataset | null;
  fingerprint: string;
  dropped: number;
  template: Template;
  warnings: string[]; // about the data files, each once (none when the tokenized cache was used)
}

// Bumped when the tokenized layout or a processing rule changes, so old caches and fingerprints stop matching.
const PIPELINE_VERSION = 3;

interface Source {
  attr: DatasetAttr;
  files: string[];
}

function names(list: string | null): string[] {
  return list === null ? [] : list.split(',');
}

export async function prepareDataset(config: DataArgs, tokenizer: Tokenizer, stage: DataStage): Promise<PreparedData> {
  const datasetDir = config.dataset_dir;
  const trainNames = names(config.dataset);
  const evalNames = names(config.eval_dataset);
  if (trainNames.length === 0) throw new UsageError('dataset: no dataset given (e.g. dataset: alpaca_en_demo)');
  const { max_samples: maxSamples, val_size: valSize, mix_strategy: mix, seed } = config;
  const template = resolveTemplate(config, tokenizer);
  const packingSet = config.packing === true || config.neat_packing;
  if (packingSet && config.cutoff_len < 2) throw new UsageError('cutoff_len: packing needs at least 2 (it packs into cutoff_len - 1)');
  const opts: ProcessOptions = {
    // As LLaMA-Factory: packing set in the config packs into cutoff_len - 1 tokens; pre-training's default packing is
    // decided after that adjustment, so it packs into the full cutoff_len.
    cutoffLen: packingSet ? config.cutoff_len - 1 : config.cutoff_len,
    trainOnPrompt: config.train_on_prompt,
    maskHistory: config.mask_history,
    packing: packingSet || (config.packing === null && stage === 'pt'),
    templateName: template.name,
    batchSize: config.preprocessing_batch_size,
  };
  if (opts.packing && stage !== 'pt' && stage !== 'sft') throw new UsageError(`packing: only supported for stages pt and sft, not ${stage}`);

  const info = readDatasetInfo(datasetDir);
  const source = (name: string): Source => {
    const attr = datasetAttr(datasetDir, info, name);
    return { attr, files: dataFiles(join(datasetDir, attr.fileName), `dataset ${name}`) };
  };
  const trainSources = trainNames.map(source);
  const evalSources = evalNames.map(source);
  const probs = parseProbs(config.interleave_probs, trainSources.length);

  const fingerprint = fingerprintOf({
    version: PIPELINE_VERSION,
    stage,
    train: trainSources.map(describeSource),
    eval: evalSources.map(describeSource),
    template: template.describe(),
    tokenizer: tokenizer.sourceHash,
    options: { ...opts, numProc: Math.max(config.preprocessing_num_workers ?? 1, 1), maxSamples, valSize, mix, probs, seed },
  });

  const cacheDir = config.tokenized_path ? join(resolve(config.tokenized_path), fingerprint) : null;
  if (cacheDir && !config.overwrite_cache) {
    const cached = loadCached(cacheDir, fingerprint);
    if (cached) return { ...cached, fingerprint, template, warnings: [] };
  }

  let dropped = 0;
  const warnings: string[] = [];
  // Rows without an answer stay in place (null) until tokenizing forms LLaMA-Factory's batches.
  const loadExamples = async (sources: Source[]): Promise<(Example | null)[][]> => {
    const out: (Example | null)[][] = [];
    for (let d = 0; d < sources.length; d++) {
      const { attr, files } = sources[d];
      let rows = (await Promise.all(files.map((f) => readRows(f, (w) => warnings.push(w))))).flat();
      if (attr.numSamples !== null) rows = sampleCount(rows, attr.numSamples, seed, d);
      if (maxSamples !== null) rows = rows.slice(0, maxSamples);
      out.push(rows.map((row) => convertRow(row, attr, stage)));
    }
    return out;
  };

  const merged = mergeDatasets(await loadExamples(trainSources), mix, probs, seed);
  let trainExamples = merged;
  let evalExamples: (Example | null)[] | null = null;
  if (evalSources.length > 0) {
    evalExamples = mergeDatasets(await loadExamples(evalSources), mix, null, seed);
  } else if (valSize > 0) {
    const split = splitTrainEval(merged, valSize, seed);
    trainExamples = split.train;
    evalExamples = split.eval;
  }

  const numProc = config.preprocessing_num_workers;
  const tokenize = async (examples: (Example | null)[]): Promise<TokenizedDataset> => {
    const layout = { numProc, threads: workerThreads(numProc, examples.length) };
    const result = await tokenizeExamples(examples, template, tokenizer, stage, opts, layout);
    dropped += result.dropped;
    return new TokenizedDataset(result.rows);
  };
  const train = await tokenize(trainExamples);
  const evalSet = evalExamples ? await tokenize(evalExamples) : null;
  if (train.size === 0) {
    const hint = stage === 'pt' && opts.packing ? '; packed pre-training keeps only full cutoff_len blocks, so the text may be too short' : '';
    throw new UsageError(`dataset ${trainNames.join(',')}: no usable training samples (${dropped} dropped${hint})`);
  }
  if (cacheDir) saveCached(cacheDir, fingerprint, { train, eval: evalSet, dropped });
  return { train, eval: evalSet, fingerprint, dropped, template, warnings };
}

function describeSource(s: Source): unknown {
  return { name: s.attr.name, entry: s.attr.entry, files: s.files.map((f) => ({ name: f.split(/[\\/]/).pop(), sha256: sha256File(f) })) };
}
