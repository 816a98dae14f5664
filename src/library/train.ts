// The library's training entry: the same checks, runTrain and evaluation after training (do_eval / do_predict) that
// `retune train` runs, with the console lines handed to a callback and the final metrics read back from the run's
// trainer_log.jsonl.
import { join } from 'node:path';
import { checkTrainConfig, loadConfig, type LoadedConfig } from '../config/load.js';
import { startEngine } from '../cli/engine.js';
import { readLogRows, TRAINER_LOG, type EvalRow, type StepRow } from '../train/logging.js';
import { runTrain } from '../train/index.js';

export interface TrainOptions {
  onLog?: (line: string) => void; // the lines `retune train` prints (default: none)
  dryRun?: boolean; // print the plan and stop
}

export interface TrainMetrics {
  globalStep: number;
  totalSteps: number;
  outputDir: string;
  lastCheckpoint: string | null;
  loss: number | null; // the last logged training loss
  learningRate: number | null;
  epoch: number | null;
  evalLoss: number | null; // the last evaluation, when eval ran
  evalPerplexity: number | null;
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
  if (afterTraining !== null && !opts.dryRun) await afterTraining.evaluateTrained(loaded.config, result, log);
  if (result === null) return null;
  const outputDir = loaded.config.output_dir as string;
  const rows = readLogRows(join(outputDir, TRAINER_LOG));
  const step = rows.filter((r): r is StepRow => 'loss' in r).at(-1);
  const evaluation = rows.filter((r): r is EvalRow => 'eval_loss' in r).at(-1);
  return {
    globalStep: result.globalStep,
    totalSteps: result.totalSteps,
    outputDir,
    lastCheckpoint: result.lastCheckpoint,
    loss: step?.loss ?? null,
    learningRate: step?.lr ?? null,
    epoch: step?.epoch ?? null,
    evalLoss: evaluation?.eval_loss ?? null,
    evalPerplexity: evaluation?.eval_perplexity ?? null,
  };
}
