// prepareDataset: config + tokenizer -> tokenized train (and eval) rows, LLaMA-Factory's get_dataset. Read each
// dataset's files, apply num_samples / max_samples, convert rows to examples, merge with mix_strategy, split off
// eval, tokenise for the stage, pack, and cache the result under tokenized_path keyed by the fingerprint.

import { join, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { fingerprintOf, loadCached, saveCached, sha256File } from './cache.js';
import { convertRow, type DataStage, type Example } from './converter.js';
import { datasetAttr, readDatasetInfo, type DatasetAttr } from './dataset-info.js';
import { TokenizedDataset } from './dataset-store.js';
import { mergeDatasets, parseProbs, sampleCount, splitTrainEval, type MixStrategy } from './mix.js';
import type { ProcessOptions } from './processors.js';
import { dataFiles, readRows } from './readers.js';
import { resolveTemplate } from './template-resolve.js';
import { tokenizeExamples } from './tokenize.js';
import type { Template } from './template.js';
import type { Tokenizer } from './tokenizer.js';

// The config keys this layer reads (LLaMA-Factory names); RetuneConfig satisfies it structurally.
export interface DataArgs {
  dataset?: string | string[] | null;
  dataset_dir?: string | null;
  eval_dataset?: string | string[] | null;
  template?: string | null;
  cutoff_len?: number | null;
  max_samples?: number | null;
  val_size?: number | null;
  mix_strategy?: string | null;
  interleave_probs?: string | number[] | null;
  train_on_prompt?: boolean | null;
  mask_history?: boolean | null;
  packing?: boolean | null;
  tokenized_path?: string | null;
  overwrite_cache?: boolean | null;
  seed?: number | null;
  streaming?: boolean | null;
  default_system?: string | null;
  tool_format?: string | null;
  enable_thinking?: boolean | null;
  preprocessing_num_workers?: number | null;
}

export interface PreparedData {
  train: TokenizedDataset;
  eval: TokenizedDataset | null;
  fingerprint: string;
  dropped: number;
  template: Template;
  warnings: string[]; // about the data files, each once (none when the tokenized cache was used)
}

// Bumped when the tokenized layout or a processing rule changes, so old caches and fingerprints stop matching.
const PIPELINE_VERSION = 1;
const MIX_STRATEGIES: MixStrategy[] = ['concat', 'interleave_under', 'interleave_over'];

interface Source {
  attr: DatasetAttr;
  files: string[];
}

function names(value: string | string[] | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  const list = Array.isArray(value) ? value : value.split(',');
  return list.map((s) => s.trim()).filter((s) => s !== '');
}

function positiveInt(value: number | null | undefined, key: string, fallback: number | null): number | null {
  if (value === null || value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`${key}: expected a positive integer, got ${value}`);
  return value;
}

export async function prepareDataset(config: DataArgs, tokenizer: Tokenizer, stage: DataStage): Promise<PreparedData> {
  if (config.streaming) throw new UsageError('streaming: not supported; Retune tokenises the dataset up front (remove streaming: true)');
  const datasetDir = config.dataset_dir ?? 'data';
  const trainNames = names(config.dataset);
  const evalNames = names(config.eval_dataset);
  if (trainNames.length === 0) throw new UsageError('dataset: no dataset given (e.g. dataset: alpaca_en_demo)');
  const cutoffLen = positiveInt(config.cutoff_len, 'cutoff_len', 2048) as number;
  const maxSamples = positiveInt(config.max_samples, 'max_samples', null);
  const valSize = config.val_size ?? 0;
  if (valSize < 0) throw new UsageError(`val_size: must be >= 0, got ${valSize}`);
  if (valSize > 0 && evalNames.length > 0) throw new UsageError('val_size and eval_dataset: give one of them, not both');
  const mix = (config.mix_strategy ?? 'concat') as MixStrategy;
  if (!MIX_STRATEGIES.includes(mix)) throw new UsageError(`mix_strategy: expected one of ${MIX_STRATEGIES.join(', ')}, got ${JSON.stringify(mix)}`);
  const seed = config.seed ?? 42;
  const template = resolveTemplate(config, tokenizer);
  const opts: ProcessOptions = {
    cutoffLen,
    trainOnPrompt: config.train_on_prompt ?? false,
    maskHistory: config.mask_history ?? false,
    // LLaMA-Factory packs pre-training text unless told otherwise, and nothing else.
    packing: config.packing ?? stage === 'pt',
    templateName: template.name,
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
    options: { ...opts, maxSamples, valSize, mix, probs, seed },
  });

  const cacheDir = config.tokenized_path ? join(resolve(config.tokenized_path), fingerprint) : null;
  if (cacheDir && !config.overwrite_cache) {
    const cached = loadCached(cacheDir, fingerprint);
    if (cached) return { ...cached, fingerprint, template, warnings: [] };
  }

  let dropped = 0;
  const warnings: string[] = [];
  const loadExamples = async (sources: Source[]): Promise<Example[][]> => {
    const out: Example[][] = [];
    for (let d = 0; d < sources.length; d++) {
      const { attr, files } = sources[d];
      let rows = (await Promise.all(files.map((f) => readRows(f, (w) => warnings.push(w))))).flat();
      if (attr.numSamples !== null) rows = sampleCount(rows, attr.numSamples, seed, d);
      if (maxSamples !== null) rows = rows.slice(0, maxSamples);
      const examples: Example[] = [];
      for (const row of rows) {
        const example = convertRow(row, attr, stage);
        if (example === null) dropped++;
        else examples.push(example);
      }
      out.push(examples);
    }
    return out;
  };

  const merged = mergeDatasets(await loadExamples(trainSources), mix, probs, seed);
  let trainExamples = merged;
  let evalExamples: Example[] | null = null;
  if (evalSources.length > 0) {
    evalExamples = mergeDatasets(await loadExamples(evalSources), mix, null, seed);
  } else if (valSize > 0) {
    const split = splitTrainEval(merged, valSize, seed);
    trainExamples = split.train;
    evalExamples = split.eval;
  }

  const workers = config.preprocessing_num_workers ?? null;
  const tokenize = async (examples: Example[]): Promise<TokenizedDataset> => {
    const result = await tokenizeExamples(examples, template, tokenizer, stage, opts, workers);
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
