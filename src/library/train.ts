// The library's training entry: the same checks, runTrain and evaluation after training (do_eval / do_predict) that
// `retune train` runs, with the console lines handed to a callback. It resolves with the metrics the run wrote
// (train_results.json, eval_results.json, predict_results.json) and the last rows of its trainer_log.jsonl.
import { join } from 'node:path';
import { checkTrainConfig, loadConfig, type LoadedConfig } from '../config/load.js';
import { startEngine } from '../cli/engine.js';
import { readLogRows, TRAINER_LOG, type EvalRow, type StepRow } from '../train/logging.js';
import { runTrain } from '../train/index.js';

export interface TrainOptions {
  onLog?: (line: string) => void; // the lines `retune train` prints (default: none)
  dryRun?: boolean; // print the plan and stop
}

// The train_* fields are train_results.json's keys in camelCase (train_loss -> trainLoss, total_flos -> totalFlos);
// null when the run stopped before its last step. evalResults and predictResults keep HF's key names, which depend on
// the mode (eval_loss and perplexity, or eval_bleu-4, eval_rouge-1, ...).
export interface TrainMetrics {
  globalStep: number;
  totalSteps: number;
  outputDir: string;
  lastCheckpoint: string | null;
  loss: number | null; // the last logged training loss
  learningRate: number | null;
  epoch: number; // epochs done, fractional (train_results.json's epoch once the run finished)
  evalLoss: number | null; // the last evaluation during training, when eval_strategy ran one
  evalPerplexity: number | null;
  trainLoss: number | null; // the mean loss of every step since step 0, resumed runs included
  trainRuntime: number | null; // seconds this process trained, and its rates
  trainSamplesPerSecond: number | null;
  trainStepsPerSecond: number | null;
  totalFlos: number | null; // HF's estimate: 6 x tokens x non-embedding parameters
  evalResults: Record<string, number> | null; // eval_results.json as written, when do_eval ran
  predictResults: Record<string, number> | null; // predict_results.json as written, when do_predict ran
}

// config: a YAML path or what loadConfig returned. Resolves with null when nothing was trained (dry run, or a run
// already finished in output_dir).
export async function train(config: string | LoadedConfig, opts: TrainOptions = {}): Promise<TrainMetrics | null> {
  const loaded = typeof config === 'string' ? loadConfig(config, []) : config;
  const log = opts.onLog ?? (() => undefined);
  for (const notice of loaded.notices) log(`notice: ${notice}`);
  checkTrainConfig(loaded);
  // Imported only when asked for: the similarity metrics load jieba's dictionary.
  const afterTraining = loaded.config.do_eval || loaded.config.do_predict ? await import('../infer/predict.js') : null;
  afterTraining?.checkEvalPredictConfig(loaded.config, loaded.source);
  startEngine(loaded.config);
  const result = await runTrain(loaded.config, { dryRun: opts.dryRun, log });
  const evaluated = afterTraining !== null && !opts.dryRun ? await afterTraining.evaluateTrained(loaded.config, result, log) : null;
  if (result === null) return null;
  const outputDir = loaded.config.output_dir as string;
  const rows = readLogRows(join(outputDir, TRAINER_LOG));
  const step = rows.filter((r): r is StepRow => 'loss' in r).at(-1);
  const evaluation = rows.filter((r): r is EvalRow => 'eval_loss' in r).at(-1);
  const trained = result.results;
  return {
    globalStep: result.globalStep,
    totalSteps: result.totalSteps,
    outputDir,
    lastCheckpoint: result.lastCheckpoint,
    loss: step?.loss ?? null,
    learningRate: step?.lr ?? null,
    epoch: result.epoch,
    evalLoss: evaluation?.eval_loss ?? null,
    evalPerplexity: evaluation?.eval_perplexity ?? null,
    trainLoss: trained?.train_loss ?? null,
    trainRuntime: trained?.train_runtime ?? null,
    trainSamplesPerSecond: trained?.train_samples_per_second ?? null,
    trainStepsPerSecond: trained?.train_steps_per_second ?? null,
    totalFlos: trained?.total_flos ?? null,
    evalResults: evaluated?.eval ?? null,
    predictResults: evaluated?.predict ?? null,
  };
}
