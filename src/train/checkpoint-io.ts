// The contents of a training checkpoint (DESIGN.md §4) and how a resume reads them back. checkpoint.ts makes the
// write atomic; this file decides what goes in: weights (PEFT adapter or full model, fp32 so a resume is exact), Adam
// moments, train_state.json, HF's trainer_state.json, the resolved config, and the model's config and tokenizer files
// so the folder works on its own for chat and export.
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError } from '../util/errors.js';
import { fsReason } from '../util/folders.js';
import { loadConfig, saveResolvedConfig } from '../config/load.js';
import type { RetuneConfig } from '../config/schema.js';
import { saveTokenizer, type Tokenizer } from '../data/index.js';
import { saveAdapter, type Finetuning } from '../model/adapters/index.js';
import { INDEX_NAME, readIndex, saveModel, WEIGHTS_NAME, type CausalLM } from '../model/index.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../model/safetensors.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  hashFile, MANIFEST_FILE, writeCheckpoint, type CheckpointRef, type ManifestEntry, type SavedCheckpoint,
} from './checkpoint.js';
import type { Objective } from './stages/index.js';
import { HF_STATE_FILE, writeHfState, type HfStateFields } from './hf-state.js';
import { TRAIN_STATE_FILE, writeTrainState, type TrainState } from './state.js';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const ARGS_FILE = 'training_args.yaml';

// Files of a model folder that describe the model or its tokenizer rather than its weights.
const COMPANION_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json', 'chat_template.jinja', 'chat_template.json',
];

export interface CheckpointContents {
  config: RetuneConfig;
  model: CausalLM;
  finetuning: Finetuning;
  optimizer: Optimizer;
  trainState: TrainState;
  hfState: HfStateFields;
  objective: Objective; // the stage may train files of its own (rm's value head)
  tokenizer: Tokenizer | null; // a tokenizer grown by added tokens, saved in place of the base model's files
}

// The trained weights in their user-facing layout: a PEFT adapter for LoRA, else the whole model, both fp32, and
// what the stage trains beside them.
function writeWeights(dir: string, c: Pick<CheckpointContents, 'config' | 'model' | 'finetuning' | 'objective' | 'tokenizer'>): void {
  if (c.finetuning.adapters !== null) saveAdapter(c.finetuning.adapters, dir, c.config);
  else saveModel(c.model, dir, { dtype: 'F32' });
  c.objective.writeWeights?.(dir);
  if (c.tokenizer !== null) saveTokenizer(c.tokenizer, dir);
  const source = c.config.model_name_or_path;
  if (source === null) return;
  for (const name of COMPANION_FILES) {
    const from = join(source, name);
    if (existsSync(from) && !existsSync(join(dir, name))) copyFileSync(from, join(dir, name));
  }
}

// `previous`: this run's newest checkpoint, named when the save fails.
export async function saveTrainingCheckpoint(
  outputDir: string, c: CheckpointContents, previous: string | null,
): Promise<SavedCheckpoint> {
  const weightsOnly = c.config.save_only_model;
  return writeCheckpoint(outputDir, c.trainState.global_step, weightsOnly, previous, (dir) => {
    writeWeights(dir, c);
    writeHfState(dir, c.hfState);
    saveResolvedConfig(c.config, join(dir, ARGS_FILE));
    if (weightsOnly) return;
    const tensors = new Map<string, TensorToWrite>();
    for (const [name, data] of c.optimizer.state().tensors) tensors.set(name, { dtype: 'F32', shape: [data.length], data });
    writeSafetensors(join(dir, OPTIMIZER_FILE), tensors, { format: 'pt' });
    writeTrainState(dir, c.trainState);
  });
}

// The files of a checkpoint that output_dir does not receive as copies: those that serve resuming it, and
// trainer_state.json, which output_dir receives with the train row (finalHfState). The others (weights, config,
// tokenizer) are the run's result, copied at the end.
const NOT_COPIED = new Set([OPTIMIZER_FILE, TRAIN_STATE_FILE, ARGS_FILE, MANIFEST_FILE, HF_STATE_FILE]);

function resultEntries(checkpoint: CheckpointRef): ManifestEntry[] {
  return checkpoint.manifest.files.filter((e) => !NOT_COPIED.has(e.path) && !e.path.includes('/'));
}

// The copied result files of the final checkpoint that output_dir lacks or holds in another version: all empty once
// the run finished; otherwise the run was stopped between saving its last checkpoint and copying them.
export function missingFinalFiles(outputDir: string, checkpoint: CheckpointRef): string[] {
  return resultEntries(checkpoint).filter((e) => {
    const path = join(outputDir, e.path);
    return !existsSync(path) || statSync(path).size !== e.size || hashFile(path) !== e.sha256;
  }).map((e) => e.path);
}

// The final weights in output_dir itself (where LLaMA-Factory puts them), copied from the last checkpoint, which
// holds them exactly as they would be written (fp32), so the slow part of saving is done once, inside the atomic
// checkpoint. Each file is copied beside and renamed into place, so an interrupted copy never leaves a half-written
// file under its real name, and a rerun finds what is missing (missingFinalFiles) and copies it.
export function writeFinalWeights(outputDir: string, checkpoint: CheckpointRef): void {
  for (const { path } of resultEntries(checkpoint)) {
    const temp = join(outputDir, `.tmp-final-${process.pid}`);
    try {
      copyFileSync(join(checkpoint.path, path), temp);
      renameSync(temp, join(outputDir, path));
    } catch (e) {
      rmSync(temp, { force: true });
      if ((e as NodeJS.ErrnoException).syscall === undefined) throw e;
      throw new RetuneError(`copying the final weights from ${checkpoint.path} into ${outputDir} failed at ${path}: ` +
        `${fsReason(e)}, then run the same command again to finish (the checkpoint holds them)`);
    }
  }
}

// The resolved config a checkpoint was trained with.
export function readCheckpointConfig(dir: string): RetuneConfig {
  const path = join(dir, ARGS_FILE);
  if (!existsSync(path)) throw new RetuneError(`${path} is missing: cannot compare the checkpoint's config with the new one`);
  return loadConfig(path, []).config;
}

// Overwrites trainable parameters with their exact fp32 values from a full-model checkpoint. Loading with bf16 frozen
// weights rounds every tensor to bf16 first, which is right for the frozen ones and wrong for trained ones.
export function restoreTrainable(dir: string, trainable: Map<string, Tensor>): void {
  const single = join(dir, WEIGHTS_NAME);
  const fileOf = existsSync(single) ? null : readIndex(join(dir, INDEX_NAME));
  const byFile = new Map<string, string[]>();
  for (const name of trainable.keys()) {
    const file = fileOf === null ? single : join(dir, fileOf.get(name) ?? WEIGHTS_NAME);
    byFile.set(file, [...(byFile.get(file) ?? []), name]);
  }
  for (const [file, names] of byFile) {
    for (const [name, stored] of readSafetensors(file, { names, floatsOnly: true })) {
      const t = trainable.get(name) as Tensor;
      if (stored.data.length !== t.data.length) {
        throw new RetuneError(`${file}: tensor ${name} has ${stored.data.length} values, the model needs ${t.data.length}`);
      }
      t.data.set(stored.data);
    }
  }
}

// Adam moments as saved; the optimizer checks names and sizes against its parameters.
export function readOptimizerTensors(dir: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of readSafetensors(join(dir, OPTIMIZER_FILE))) out.set(name, t.data);
  return out;
}
