// runTrain: what `retune train` calls. Decides between a fresh run and a resume (explicit resume_from_checkpoint, or
// the newest verifying checkpoint in output_dir unless overwrite_output_dir), prints the plan before the first step
// (a dry run stops there), builds model, data and optimizer in the state the plan describes, and runs the Trainer.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError, UsageError } from '../util/errors.js';
import { checkOutputFolder, makeOutputFolder } from '../util/folders.js';
import { getBackend } from '../backend/index.js';
import { saveResolvedConfig } from '../config/load.js';
import { TRAINING_STAGES, type RetuneConfig } from '../config/schema.js';
import {
  addConfiguredTokens, loadTokenizer, prepareDataset, type AddedVocab, type DataStage, type PreparedData, type Tokenizer,
} from '../data/index.js';
import { applyFinetuning, type Finetuning } from '../model/adapters/finetuning.js';
import { initModel } from '../model/init.js';
import { loadModel, readModelConfig, type CausalLM } from '../model/index.js';
import { createOptimizer } from '../optim/create.js';
import type { Optimizer } from '../optim/optimizer.js';
import { CONTROL_FILE } from './control.js';
import { findLatestCheckpoint, openCheckpoint, removeStaleTemps, type CheckpointRef } from './checkpoint.js';
import { ARGS_FILE, readCheckpointConfig, readOptimizerTensors, restoreTrainable } from './checkpoint-io.js';
import { completeFinishedRun, finishRun } from './finish.js';
import { estimateFlos, readLogHistory, type HistoryEntry } from './hf-state.js';
import { initialHistory, plannedTotalSteps } from './lr-history.js';
import { lockOutputDir } from './lock.js';
import { TrainLog } from './logging.js';
import { plotLoss } from './plot.js';
import { effectiveConfig, formatLrOutlook, formatResumePlan, planResume, type ResumePlan } from './resume-plan.js';
import { trainMetrics, type TrainResults } from './results.js';
import { buildObjective } from './stages/index.js';
import { readTrainState, type ResumeEvent, type TrainState } from './state.js';
import { Trainer, type TrainResult } from './trainer.js';
import { checkVocabFits, growModelVocab, loraTargets, vocabNotices } from './vocab.js';

export type { TrainResult } from './trainer.js';

export interface TrainOutcome extends TrainResult {
  results: TrainResults | null; // what train_results.json received; null when the run stopped before its last step
}

export interface RunTrainOptions {
  dryRun?: boolean;
  log?: (line: string) => void;
}

// What a fresh run may find in output_dir without refusing: leftovers of an earlier attempt at this same run.
const RUN_LEFTOVERS =
  /^(?:(?:trainer_log\.jsonl|training_args\.yaml)(?:\.tmp-\d+)?|control\.jsonl|checkpoint-\d+(?:\.old-\d+)?|\.(?:tmp|deleting)-.*|\.retune-lock)$/;

// Returns null when nothing was trained (dry run, or a finished run). A run stopped by SIGINT/SIGTERM saves, then
// re-raises the signal so the process ends the way the signal asked.
export async function runTrain(config: RetuneConfig, opts: RunTrainOptions = {}): Promise<TrainOutcome | null> {
  const print = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const outputDir = config.output_dir;
  if (outputDir === null) throw new UsageError('output_dir is required to train');
  if (config.model_name_or_path === null) throw new UsageError('model_name_or_path is required to train');
  if (!TRAINING_STAGES.includes(config.stage)) {
    throw new UsageError(`stage ${config.stage} is not supported yet (stages that train: ${TRAINING_STAGES.join(', ')})`);
  }
  if (opts.dryRun) {
    checkOutputFolder(outputDir, 'output_dir');
    return planAndTrain(config, outputDir, true, print);
  }

  makeOutputFolder(outputDir, 'output_dir');
  const lock = lockOutputDir(outputDir);
  let result: TrainOutcome | null;
  try {
    result = await planAndTrain(config, outputDir, false, print);
  } finally {
    lock.release();
  }
  if (result !== null && result.stoppedBy !== null && result.globalStep < result.totalSteps) {
    process.kill(process.pid, result.stoppedBy);
  }
  return result;
}

// What a run will do, decided before anything is written: the checkpoint it resumes (or none), the config that runs,
// the prepared data, the state the first step starts from, and the plan as the CLI prints it.
export interface TrainPlan {
  checkpoint: CheckpointRef | null;
  runConfig: RetuneConfig;
  tokenizer: Tokenizer; // with the config's tokens and the template's fix-up (EOS, pad, stop words)
  vocab: AddedVocab; // the config's new tokens and whether the model grows
  data: PreparedData;
  plan: ResumePlan | null; // null for a fresh run
  saved: TrainState | null; // the checkpoint's own state (before the plan is applied)
  state: TrainState | null; // where the first step starts; null when the plan refuses or there is nothing to train
  text: string;
}

// The plan of `retune train` for this config, with no side effect: the same decision `--dry-run` prints and the web
// UI shows. `notes` receives the lines printed on the way (skipped broken checkpoints, dropped samples).
export async function planTraining(config: RetuneConfig, notes: (line: string) => void): Promise<TrainPlan> {
  if (config.output_dir === null) throw new UsageError('output_dir is required to train');
  return prepareRun(config, config.output_dir, true, notes);
}

async function prepareRun(
  config: RetuneConfig, outputDir: string, dryRun: boolean, print: (line: string) => void,
): Promise<TrainPlan> {
  const checkpoint = findResumePoint(config, outputDir, dryRun, print);
  const oldConfig = checkpoint === null ? null : readCheckpointConfig(checkpoint.path);
  const runConfig = oldConfig === null ? config : effectiveConfig(oldConfig, config);
  const tokenizer = await loadTokenizer(runConfig.model_name_or_path as string);
  const vocab = addConfiguredTokens(tokenizer, runConfig);
  for (const note of vocabNotices(runConfig, vocab)) print(note);
  // runTrain let only TRAINING_STAGES through, and every one of them has rows of its own.
  const data = await prepareDataset(runConfig, tokenizer, config.stage as DataStage);
  checkVocabFits(vocab, tokenizer, data, readModelConfig(runConfig.model_name_or_path as string).vocab_size);
  for (const warning of data.warnings) process.stderr.write(`retune: warning: ${warning}\n`);
  if (data.dropped > 0) print(`${data.dropped} samples were dropped (empty or longer than cutoff_len ${runConfig.cutoff_len})`);
  const dataset = { fingerprint: data.fingerprint, size: data.train.size };
  if (checkpoint === null || oldConfig === null) {
    const state = freshState(runConfig, dataset);
    const text = [formatFreshPlan(runConfig, state), ...formatAfterTraining(config)].join('\n');
    return { checkpoint, runConfig, tokenizer, vocab, data, plan: null, saved: null, state, text };
  }
  const saved = checkpoint.manifest.weightsOnly ? null : readTrainState(checkpoint.path);
  const plan = planResume({
    checkpoint: { ...checkpoint, weightsOnly: checkpoint.manifest.weightsOnly }, oldConfig, state: saved, newConfig: config, dataset,
    kernelPath: getBackend().kernelPath,
  });
  const state = plan.refusal !== null || plan.finished ? null : resumedState(saved as TrainState, plan, checkpoint);
  const after = plan.refusal === null ? formatAfterTraining(config) : [];
  return { checkpoint, runConfig, tokenizer, vocab, data, plan, saved, state, text: [formatResumePlan(plan), ...after].join('\n') };
}

async function planAndTrain(
  config: RetuneConfig, outputDir: string, dryRun: boolean, print: (line: string) => void,
): Promise<TrainOutcome | null> {
  const { checkpoint, runConfig, tokenizer, vocab, data, plan, state: planned, text } = await prepareRun(config, outputDir, dryRun, print);
  print(text);
  if (plan?.refusal) throw new UsageError(plan.refusal);
  if (plan?.finished && checkpoint !== null && completeFinishedRun(outputDir, checkpoint, dryRun, print)) {
    if (!dryRun && runConfig.plot_loss) plot(outputDir, print);
  }
  if (dryRun || planned === null) return null;
  const state = planned;
  const evalData = evalSplit(runConfig, data);
  const padId = tokenizer.padId ?? tokenizer.eosId;
  if (padId === null) throw new UsageError(`${runConfig.model_name_or_path}: the tokenizer has neither a pad nor an eos token`);

  const { model, finetuning } = await buildModel(runConfig, checkpoint, state, { tokenizer, vocab, print });
  const objective = await buildObjective(runConfig, model, finetuning, padId, checkpoint?.path ?? null);
  const optimizer = buildOptimizer(runConfig, finetuning, checkpoint, state, plan);
  const log = new TrainLog(outputDir, state.global_step, print, process.stdout.isTTY === true);
  let logHistory: HistoryEntry[] = [];
  if (checkpoint !== null && plan !== null) {
    const dropped = log.truncateAfter(state.global_step);
    if (dropped > 0) print(`trainer_log.jsonl: dropped ${dropped} rows logged after ${checkpoint.name} by the interrupted run`);
    logHistory = readLogHistory(checkpoint.path).filter((e) => e.step <= state.global_step);
    const event = state.events[state.events.length - 1] as ResumeEvent;
    log.write({ current_steps: state.global_step, ...event, event: 'resume' });
  } else {
    log.reset();
  }
  saveResolvedConfig(runConfig, join(outputDir, ARGS_FILE));

  const trainer = new Trainer({
    config: runConfig, model, finetuning, objective, optimizer, train: data.train, eval: evalData, padId, state, logHistory,
    resumedFrom: checkpoint?.path ?? null, log, tokenizer: tokenizer.added.length > 0 ? tokenizer : null,
  });
  const start = performance.now();
  const result = await trainer.run();
  const seconds = (performance.now() - start) / 1000;
  if (result.stoppedBy !== null && result.globalStep < result.totalSteps) {
    log.message(`stopped by ${result.stoppedBy} at step ${result.globalStep}; ${result.lastCheckpoint ?? 'no checkpoint'} ` +
      'holds the state; run the same command again to resume');
    return { ...result, results: null };
  }
  if (result.lastSaved === null) throw new RetuneError('the run ended without saving its final checkpoint');
  const totals = { trainLoss: result.trainLoss, totalFlos: estimateFlos(result.tokensSeen, model, finetuning), epoch: result.epoch };
  const results = trainMetrics(totals, seconds, result.samplesRun, result.stepsRun);
  finishRun(outputDir, result.lastSaved, results, (line) => log.message(line));
  if (runConfig.plot_loss) plot(outputDir, print);
  log.message(`training finished at step ${result.globalStep}; weights in ${outputDir}`);
  return { ...result, results };
}

function plot(outputDir: string, print: (line: string) => void): void {
  for (const file of plotLoss(new TrainLog(outputDir, 0, print, false).rows(), outputDir)) print(`wrote ${file}`);
}

// The checkpoint to resume from, or null for a fresh run. Broken checkpoints are reported by name and skipped; a dry
// run leaves even the temporary folders of dead processes in place.
function findResumePoint(
  config: RetuneConfig, outputDir: string, dryRun: boolean, print: (line: string) => void,
): CheckpointRef | null {
  if (!dryRun) for (const name of removeStaleTemps(outputDir)) print(`removed ${name}, left by an interrupted process`);
  if (config.resume_from_checkpoint !== null) return openCheckpoint(config.resume_from_checkpoint);
  if (config.overwrite_output_dir) return null;
  const { latest, broken } = findLatestCheckpoint(outputDir);
  for (const b of broken) print(`skipping ${b.name}: ${b.reason} (left in place)`);
  if (latest !== null) return latest;
  const foreign = existsSync(outputDir) ? readdirSync(outputDir).filter((n) => !RUN_LEFTOVERS.test(n)) : [];
  if (foreign.length > 0) {
    throw new UsageError(`output_dir ${outputDir} is not empty (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}) ` +
      'and holds no checkpoint to resume: set overwrite_output_dir: true to train there anyway, or pick another output_dir');
  }
  return null;
}

// A fresh run applies the requests already in control.jsonl (written for it before it started), except when it
// overwrites an earlier run, whose requests were that run's.
function freshState(config: RetuneConfig, dataset: { fingerprint: string; size: number }): TrainState {
  const totalSteps = plannedTotalSteps(config, dataset.size, { step: 0, samples: 0 });
  const controlFile = join(config.output_dir as string, CONTROL_FILE);
  const controlStart = config.overwrite_output_dir ? (statSync(controlFile, { throwIfNoEntry: false })?.size ?? 0) : 0;
  return {
    format: 'retune-train-state', version: 1, global_step: 0, total_steps: totalSteps, epoch: 0,
    sampler: { epoch: 0, consumed: 0 }, dataset, samples_seen: 0, tokens_seen: 0, rng: null,
    schedule: initialHistory(config, totalSteps), events: [], bad_steps: 0, log_window: { loss_sum: 0, steps: 0 },
    run_loss: { sum: 0, steps: 0 },
    control: { offset: controlStart, pending: [] },
    optimizer: { kind: config.optim === 'sgd' ? 'sgd' : 'adamw', step: 0 }, kernel_path: getBackend().kernelPath,
  };
}

function resumedState(saved: TrainState, plan: ResumePlan, checkpoint: CheckpointRef): TrainState {
  return {
    ...saved,
    kernel_path: getBackend().kernelPath,
    total_steps: plan.totalSteps,
    sampler: plan.sampler,
    dataset: plan.dataset,
    schedule: plan.schedule,
    events: [...saved.events, {
      step: plan.step, time: new Date().toISOString(), from: checkpoint.path, policy: plan.policy, lr_mode: plan.lrMode,
      changed: plan.rows.map((r) => r.field), applied: plan.policy !== 'checkpoint', reset_optimizer: plan.resetOptimizer,
      dataset_changed: plan.datasetChanged,
    }],
  };
}

function formatFreshPlan(config: RetuneConfig, state: TrainState): string {
  const effective = config.per_device_train_batch_size * config.gradient_accumulation_steps;
  const lines = [
    `Training plan: fresh run in ${config.output_dir}, ${state.dataset.size} samples, effective batch ${effective} ` +
      `(${config.per_device_train_batch_size} x ${config.gradient_accumulation_steps}), ${state.total_steps} steps`,
    ...formatLrOutlook(state.schedule, 0, state.total_steps),
  ];
  return lines.join('\n');
}

// What `retune train` runs once training has finished (src/infer/predict.ts), on the weights in output_dir.
function formatAfterTraining(config: RetuneConfig): string[] {
  if (!config.do_eval && !config.do_predict) return [];
  const lines = [`After training, on the weights in ${config.output_dir}:`];
  const evalData = config.eval_dataset !== null
    ? `eval_dataset ${config.eval_dataset}` : `the val_size ${config.val_size} split of ${config.dataset}`;
  const evalWhat = config.predict_with_generate ? 'BLEU-4 and ROUGE of generated replies' : 'eval loss and perplexity';
  if (config.do_eval) lines.push(`  do_eval: ${evalWhat} on ${evalData} -> eval_results.json, all_results.json`);
  if (config.do_predict) {
    const decoding = config.do_sample ? `sampled (seed ${config.seed}, one stream per prompt)` : 'greedy';
    lines.push(`  do_predict: a ${decoding} reply of up to ${config.max_new_tokens} tokens to every eval_dataset ` +
      `${config.eval_dataset} prompt, ${config.per_device_eval_batch_size} decoded together -> generated_predictions.jsonl, ` +
      'predict_results.json, all_results.json');
  }
  return lines;
}

function evalSplit(config: RetuneConfig, data: PreparedData): PreparedData['eval'] {
  if (config.eval_strategy === 'no') return null;
  if (data.eval === null || data.eval.size === 0) {
    throw new UsageError(`eval_strategy ${config.eval_strategy} needs evaluation data: set val_size or eval_dataset`);
  }
  return data.eval;
}

// The model in the state the checkpoint holds. LoRA: the checkpoint's adapter is the one trained further (earlier
// adapters of adapter_name_or_path are merged first, as in the original run). Full/freeze: the checkpoint's weights.
async function buildModel(
  config: RetuneConfig, checkpoint: CheckpointRef | null, state: TrainState,
  run: { tokenizer: Tokenizer; vocab: AddedVocab; print: (line: string) => void },
): Promise<{ model: CausalLM; finetuning: Finetuning }> {
  const base = config.model_name_or_path as string;
  const lora = config.finetuning_type === 'lora';
  const fromBase = checkpoint === null || lora;
  // A LoRA run from scratch trains adapters on the random base, which the checkpoint does not hold: rebuild it.
  const model = config.train_from_scratch && fromBase
    ? initModel(readModelConfig(base), config.seed)
    : await loadModel(fromBase ? base : checkpoint.path, { frozenBf16: config.bf16 });
  model.gradientCheckpointing = config.gradient_checkpointing;
  // A full or freeze checkpoint holds the grown weights already; a base model grows the same way on every start.
  const resized = fromBase ? growModelVocab(model, run.tokenizer, run.vocab, config) : null;
  if (resized !== null) run.print(resized);
  const finetuning = applyFinetuning(model, loraTargets(config, run.vocab), checkpoint !== null && lora ? checkpoint.path : null);
  if (checkpoint !== null && !lora && config.bf16) restoreTrainable(checkpoint.path, finetuning.trainable);
  if (state.rng !== null) {
    if (finetuning.adapters === null) throw new RetuneError('train_state.json holds a dropout RNG state but the run has no adapter');
    finetuning.adapters.setRngState(state.rng);
  }
  return { model, finetuning };
}

function buildOptimizer(
  config: RetuneConfig, finetuning: Finetuning, checkpoint: CheckpointRef | null, state: TrainState, plan: ResumePlan | null,
): Optimizer {
  const optimizer = createOptimizer(config, finetuning.trainable);
  if (checkpoint === null || plan === null || plan.resetOptimizer) return optimizer;
  optimizer.loadState({ step: state.optimizer.step, tensors: readOptimizerTensors(checkpoint.path) });
  return optimizer;
}
