// trainer_state.json in HF Trainer's schema (TrainerState.save_to_json), so tools that read HF checkpoints (LLaMA-
// Factory's plots, notebooks) read ours. log_history carries over across resumes through the checkpoint.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Finetuning } from '../model/adapters/index.js';
import type { CausalLM } from '../model/index.js';
import { RetuneError } from '../util/errors.js';
import type { TrainResults } from './results.js';

export const HF_STATE_FILE = 'trainer_state.json';

export type HistoryEntry = Record<string, number>;

// The fields of trainer_state.json that Retune reads back.
export interface HfStateFile {
  global_step: number;
  epoch: number;
  total_flos: number;
  log_history: HistoryEntry[];
}

export interface HfStateFields {
  globalStep: number;
  epoch: number;
  maxSteps: number;
  numTrainEpochs: number;
  loggingSteps: number;
  evalSteps: number;
  saveSteps: number;
  trainBatchSize: number;
  tokensSeen: number;
  totalFlos: number;
  logHistory: HistoryEntry[];
}

export function writeHfState(dir: string, f: HfStateFields): void {
  const state = {
    best_global_step: null,
    best_metric: null,
    best_model_checkpoint: null,
    epoch: f.epoch,
    eval_steps: f.evalSteps,
    global_step: f.globalStep,
    is_hyper_param_search: false,
    is_local_process_zero: true,
    is_world_process_zero: true,
    log_history: f.logHistory,
    logging_steps: f.loggingSteps,
    max_steps: f.maxSteps,
    num_input_tokens_seen: f.tokensSeen,
    num_train_epochs: f.numTrainEpochs,
    save_steps: f.saveSteps,
    stateful_callbacks: {},
    total_flos: f.totalFlos,
    train_batch_size: f.trainBatchSize,
    trial_name: null,
    trial_params: null,
  };
  writeFileSync(join(dir, HF_STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

// HF's estimate (PreTrainedModel.floating_point_ops): 6 flops per token and parameter, forward and backward, embeddings
// excluded (a tied lm_head is the embedding). LoRA counts its adapters, as a PEFT model's parameters include them.
// Tokens are those without padding (HF counts the padded input ids).
export function estimateFlos(tokens: number, model: CausalLM, finetuning: Finetuning): number {
  let params = 0;
  for (const [name, t] of model.namedParameters()) if (name !== 'model.embed_tokens.weight') params += t.size;
  if (finetuning.adapters !== null) for (const t of finetuning.trainable.values()) params += t.size;
  return 6 * tokens * params;
}

// A checkpoint's trainer_state.json, with the fields a resume and the end of a run read checked.
export function readHfState(dir: string): HfStateFile {
  const path = join(dir, HF_STATE_FILE);
  if (!existsSync(path)) throw new RetuneError(`${path} is missing`);
  let parsed: Partial<HfStateFile> | null;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<HfStateFile> | null;
  } catch (e) {
    throw new RetuneError(`${path} does not parse (${(e as Error).message}); resume from another checkpoint ` +
      '(resume_from_checkpoint) or restore the file');
  }
  if (!Array.isArray(parsed?.log_history)) throw new RetuneError(`${path}: log_history is not a list`);
  for (const key of ['global_step', 'epoch', 'total_flos'] as const) {
    if (typeof parsed[key] !== 'number') throw new RetuneError(`${path}: ${key} is not a number`);
  }
  return parsed as HfStateFile;
}

// The log history of a checkpoint, to continue it.
export function readLogHistory(dir: string): HistoryEntry[] {
  return readHfState(dir).log_history;
}

// output_dir's trainer_state.json: the final checkpoint's, plus the row HF's Trainer logs at the end of train() (the
// train metrics, epoch and step), which LLaMA-Factory's save_state then writes to output_dir. Checkpoints keep their
// state as saved (HF saves the last one before that row), so resuming or extending a finished run reads the same
// history.
export function finalHfState(checkpointDir: string, results: TrainResults): string {
  const state = readHfState(checkpointDir);
  const row: HistoryEntry = {
    train_runtime: results.train_runtime, train_samples_per_second: results.train_samples_per_second,
    train_steps_per_second: results.train_steps_per_second, total_flos: results.total_flos, train_loss: results.train_loss,
    epoch: results.epoch, step: state.global_step,
  };
  return JSON.stringify({ ...state, log_history: [...state.log_history, row] }, null, 2) + '\n';
}
