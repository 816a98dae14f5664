// LLaMA-Factory's do_eval and do_predict, through `retune train`: alone (do_train false, on model_name_or_path and its
// adapters) or after training in the same run (on the weights the run left in output_dir), as run_sft / run_pt do:
// train, then evaluate, then predict. do_eval reports the eval loss and perplexity of the eval split (eval_dataset, or
// the val_size split of dataset), or with predict_with_generate the BLEU and ROUGE of replies to it; do_predict
// answers every eval_dataset prompt (the conversation up to its last reply), decoding per_device_eval_batch_size
// prompts together through the inference engine, and scores the replies against the references as LLaMA-Factory's
// ComputeSimilarity does. The files are HF's and LLaMA-Factory's: eval_results.json, generated_predictions.jsonl,
// predict_results.json, all_results.json (src/train/results.ts writes them).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RetuneConfig } from '../config/schema.js';
import { prepareDataset, type TokenizedDataset } from '../data/index.js';
import { splitList } from '../model/adapters/finetuning.js';
import { meanEvalLoss } from '../train/evaluate.js';
import type { TrainResult } from '../train/index.js';
import { round, saveMetrics, speedMetrics, type Metrics, type Split } from '../train/results.js';
import { RetuneError, UsageError } from '../util/errors.js';
import { writeTextAtomic } from '../util/write-atomic.js';
import { InferenceEngine } from './engine.js';
import { openFromConfig, samplingFromConfig, type OpenedModel } from './open.js';
import { similarity, type SimilarityScores } from './similarity.js';

const IGNORE = -100;

// The config problems LLaMA-Factory also stops on, named by key, before anything is loaded.
export function checkEvalPredictConfig(config: RetuneConfig, source: string): void {
  const need = (key: keyof RetuneConfig, why: string): void => {
    if (config[key] === null) throw new UsageError(`${source}: ${key} is required ${why}`);
  };
  need('model_name_or_path', 'to evaluate or predict');
  if (config.do_train) checkAfterTraining(config, source);
  need('output_dir', 'to write the results');
  if (config.do_predict) {
    if (!config.predict_with_generate) {
      throw new UsageError(`${source}: do_predict needs predict_with_generate: true (the predictions are generated)`);
    }
    if (config.stage !== 'sft') throw new UsageError(`${source}: do_predict needs stage: sft, not ${config.stage}`);
    need('eval_dataset', 'by do_predict (the prompts to answer)');
  }
  if (config.do_eval && config.predict_with_generate && config.stage !== 'sft') {
    throw new UsageError(`${source}: predict_with_generate (do_eval by generated replies) needs stage: sft, not ${config.stage}`);
  }
  if (config.do_eval && config.eval_dataset === null && (config.dataset === null || config.val_size === 0)) {
    throw new UsageError(`${source}: do_eval needs eval data: set eval_dataset, or dataset with val_size`);
  }
}

// What evaluation after training cannot take from output_dir: the loss of other stages' objectives, and the random
// base of a LoRA run from scratch (output_dir holds only its adapter).
function checkAfterTraining(config: RetuneConfig, source: string): void {
  if (config.do_eval && config.stage !== 'sft' && config.stage !== 'pt') {
    throw new UsageError(`${source}: do_eval after training reports the language-model loss of stages sft and pt, not ${config.stage}; ` +
      'set do_eval: false (eval_strategy evaluates during training)');
  }
  if (config.train_from_scratch && config.finetuning_type === 'lora') {
    throw new UsageError(`${source}: do_eval / do_predict after a LoRA run with train_from_scratch: output_dir holds only the adapter ` +
      'of a random base; use finetuning_type full, or set do_eval and do_predict to false');
  }
}

// The model that evaluation after training opens: what the run left in output_dir. LoRA: its adapter takes the place
// of the one it trained further (the last of adapter_name_or_path, unless create_new_adapter), the others merged first
// as in training; full and freeze: output_dir's weights, which already hold any merged adapters.
function trainedModelConfig(config: RetuneConfig): RetuneConfig {
  const outputDir = config.output_dir as string;
  if (config.finetuning_type !== 'lora') return { ...config, model_name_or_path: outputDir, adapter_name_or_path: null };
  const adapters = splitList(config.adapter_name_or_path);
  const merged = config.create_new_adapter ? adapters : adapters.slice(0, -1);
  return { ...config, adapter_name_or_path: [...merged, outputDir].join(',') };
}

// After runTrain (null: an earlier run of the same command had finished training): do_eval and do_predict on the
// weights in output_dir, so a resumed run ends with the same files. A run stopped by a signal evaluates when resumed.
// Resolves with the metrics written (null: the run was stopped, nothing ran).
export async function evaluateTrained(
  config: RetuneConfig, result: TrainResult | null, print: (line: string) => void,
): Promise<EvalPredictResults | null> {
  if (result !== null && result.stoppedBy !== null) {
    print(`stopped by ${result.stoppedBy}: do_eval / do_predict did not run; run the same command again to run them`);
    return null;
  }
  return runEvalPredict(config, print);
}

// eval_results.json and predict_results.json as written (null: that phase did not run).
export interface EvalPredictResults {
  eval: Metrics | null;
  predict: Metrics | null;
}

// do_eval, then do_predict; with do_train, on the trained weights. With predict_with_generate, do_eval scores
// generated replies by BLEU and ROUGE instead of reporting the loss, as LLaMA-Factory's generating evaluation does
// (it keeps the labels from the model, so no eval_loss); after training, eval metrics carry the run's epoch, which
// HF's Trainer.evaluate adds through its log.
export async function runEvalPredict(config: RetuneConfig, print: (line: string) => void): Promise<EvalPredictResults> {
  const outputDir = config.output_dir as string;
  mkdirSync(outputDir, { recursive: true });
  const opened = await openFromConfig(config.do_train ? trainedModelConfig(config) : config);
  const results: EvalPredictResults = { eval: null, predict: null };
  if (config.do_eval) {
    const metrics = config.predict_with_generate ? (await generate(config, opened, 'eval', print)).metrics : await evaluate(config, opened);
    results.eval = save(outputDir, 'eval', { ...metrics, ...(config.do_train ? trainedEpoch(outputDir) : {}) }, print);
  }
  if (config.do_predict) results.predict = save(outputDir, 'predict', await predict(config, opened, outputDir, print), print);
  return results;
}

// The epoch train_results.json holds ({} when the run that trained wrote none).
function trainedEpoch(outputDir: string): Metrics {
  const path = join(outputDir, 'train_results.json');
  if (!existsSync(path)) return {};
  const epoch = (JSON.parse(readFileSync(path, 'utf8')) as Metrics).epoch;
  if (typeof epoch !== 'number') throw new RetuneError(`${path}: epoch is not a number; move the file away to evaluate`);
  return { epoch };
}

// The metrics under HF's names: split-prefixed, except perplexity (LLaMA-Factory's own key) and epoch.
function save(outputDir: string, split: Split, metrics: Metrics, print: (line: string) => void): Metrics {
  const prefixed: Metrics = {};
  for (const [k, v] of Object.entries(metrics)) prefixed[k === 'perplexity' || k === 'epoch' ? k : `${split}_${k}`] = v;
  return saveMetrics(outputDir, split, prefixed, print);
}

// The eval split as prepareDataset makes it; with only eval_dataset, those datasets are read as the one split.
async function evalRows(config: RetuneConfig, opened: OpenedModel, packing: RetuneConfig['packing']): Promise<TokenizedDataset> {
  const { tokenizer } = opened;
  const stage = config.stage === 'pt' ? 'pt' : 'sft';
  if (config.eval_dataset !== null) {
    const alone = { ...config, dataset: config.eval_dataset, eval_dataset: null, val_size: 0, packing };
    const rows = (await prepareDataset(alone, tokenizer, stage)).train;
    if (rows.size === 0) throw new UsageError(`eval_dataset ${config.eval_dataset}: no samples (all empty or longer than cutoff_len)`);
    return rows;
  }
  const data = await prepareDataset({ ...config, packing }, tokenizer, stage);
  if (data.eval === null || data.eval.size === 0) throw new UsageError(`val_size ${config.val_size} leaves no eval samples`);
  return data.eval;
}

async function evaluate(config: RetuneConfig, opened: OpenedModel): Promise<Metrics> {
  const rows = await evalRows(config, opened, config.packing);
  const padId = opened.tokenizer.padId ?? opened.tokenizer.eosId ?? 0;
  const start = performance.now();
  const { loss, batches } = meanEvalLoss(opened.model, null, rows, config.per_device_eval_batch_size, padId);
  const seconds = (performance.now() - start) / 1000;
  return { loss, perplexity: Math.exp(loss), ...speedMetrics(seconds, rows.size, batches) };
}

interface PredictItem {
  promptIds: number[];
  labelIds: number[];
}

// A tokenized sft row cut before its last reply: the prompt LLaMA-Factory's predict dataset holds, and that reply.
function splitLastReply(inputIds: Int32Array, labels: Int32Array): PredictItem {
  let end = labels.length;
  while (end > 0 && labels[end - 1] === IGNORE) end--;
  let start = end;
  while (start > 0 && labels[start - 1] !== IGNORE) start--;
  if (start === end) return { promptIds: Array.from(inputIds), labelIds: [] };
  return { promptIds: Array.from(inputIds.subarray(0, start)), labelIds: Array.from(labels.subarray(start, end)) };
}

interface Generated {
  lines: string[]; // generated_predictions.jsonl
  metrics: Metrics; // mean BLEU-4 and ROUGE of the replies, then HF's speed metrics and tokens/s
  tokens: number;
  seconds: number;
}

// A reply to every eval prompt, decoding per_device_eval_batch_size prompts together, scored against the references
// as LLaMA-Factory's ComputeSimilarity does.
async function generate(config: RetuneConfig, opened: OpenedModel, split: Split, print: (line: string) => void): Promise<Generated> {
  const rows = await evalRows(config, opened, false);
  const items = Array.from({ length: rows.size }, (_, i) => splitLastReply(rows.get(i).inputIds, rows.get(i).labels));
  const engine = new InferenceEngine(opened, {
    maxBatch: config.per_device_eval_batch_size, maxQueue: items.length, skipSpecialTokens: config.skip_special_tokens,
  });
  const sampling = samplingFromConfig(config);
  const stopIds = engine.chatStopIds();
  print(`${split}: ${items.length} prompts, ${config.per_device_eval_batch_size} decoded together`);
  const start = performance.now();
  // Row i samples from stream i of the seed: its reply depends on neither the batch size nor the other rows.
  const replies = await Promise.all(items.map((item, i) => engine.complete(item.promptIds, {
    maxNewTokens: Math.min(config.max_new_tokens, engine.room(item.promptIds)), sampling: { ...sampling, stream: i }, stopIds,
  })));
  const seconds = (performance.now() - start) / 1000;
  const tokens = replies.reduce((n, r) => n + r.ids.length, 0);

  const { tokenizer } = opened;
  const lines: string[] = [];
  const sums: SimilarityScores = { 'bleu-4': 0, 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0 };
  items.forEach((item, i) => {
    const label = tokenizer.decode(item.labelIds, { skipSpecialTokens: config.skip_special_tokens });
    const prompt = tokenizer.decode(item.promptIds, { skipSpecialTokens: false });
    lines.push(JSON.stringify({ prompt, predict: replies[i].text, label }) + '\n');
    const scores = similarity(replies[i].text, label);
    for (const k of Object.keys(sums) as (keyof SimilarityScores)[]) sums[k] += scores[k];
  });
  const metrics: Metrics = {};
  for (const [k, v] of Object.entries(sums)) metrics[k] = v / items.length;
  const steps = Math.ceil(items.length / config.per_device_eval_batch_size);
  Object.assign(metrics, speedMetrics(seconds, items.length, steps), { tokens_per_second: round(tokens / seconds, 3) });
  return { lines, metrics, tokens, seconds };
}

async function predict(config: RetuneConfig, opened: OpenedModel, outputDir: string, print: (line: string) => void): Promise<Metrics> {
  const { lines, metrics, tokens, seconds } = await generate(config, opened, 'predict', print);
  const path = join(outputDir, 'generated_predictions.jsonl');
  writeTextAtomic(path, lines.join(''));
  print(`predict: ${tokens} tokens in ${seconds.toFixed(2)} s, ${(tokens / seconds).toFixed(2)} tokens/s; wrote ${path}`);
  return metrics;
}
