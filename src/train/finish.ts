// How a run ends in output_dir, in the order LLaMA-Factory's run_sft ends it (save_model, save_metrics("train"),
// save_state): the final weights, copied from the last checkpoint; train_results.json and all_results.json;
// trainer_state.json with HF's train row. Each file is written whole or not at all, so a run stopped in between leaves
// the first of them, and a rerun of the same command, which finds nothing left to train, writes the rest from the
// final checkpoint: the same weights and state, and the same train_loss, epoch and total_flos.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetuneError } from '../util/errors.js';
import { fsReason } from '../util/folders.js';
import { writeTextAtomic } from '../util/write-atomic.js';
import type { CheckpointRef } from './checkpoint.js';
import { missingFinalFiles, writeFinalWeights } from './checkpoint-io.js';
import { finalHfState, HF_STATE_FILE, readHfState } from './hf-state.js';
import { saveMetrics, trainMetrics, type RunTotals, type TrainResults } from './results.js';
import { readTrainState } from './state.js';

const TRAIN_RESULTS = 'train_results.json';

// The end of a run that trained to its last step, saved as `checkpoint`.
export function finishRun(outputDir: string, checkpoint: CheckpointRef, results: TrainResults, print: (line: string) => void): void {
  writeOrExplain(outputDir, checkpoint, () => {
    writeFinalWeights(outputDir, checkpoint);
    saveMetrics(outputDir, 'train', results, print);
    writeTextAtomic(join(outputDir, HF_STATE_FILE), finalHfState(checkpoint.path, results));
  });
}

// A rerun of a run that reached its last step: writes what output_dir lacks of its end (a dry run says what it would
// write). Returns whether anything was missing.
export function completeFinishedRun(
  outputDir: string, checkpoint: CheckpointRef, dryRun: boolean, print: (line: string) => void,
): boolean {
  const files = missingFinalFiles(outputDir, checkpoint);
  const saved = readTrainResults(outputDir);
  const totals = checkpointTotals(checkpoint);
  const current = saved !== null && sameTotals(saved, totals) ? saved : null;
  // The process that writes them trained no step: its runtime and rates are 0 (see trainMetrics).
  const results = current ?? trainMetrics(totals, 0, 0, 0);
  const hfState = finalHfState(checkpoint.path, results);
  if (!sameText(join(outputDir, HF_STATE_FILE), hfState)) files.push(HF_STATE_FILE);
  const writeResults = current === null;
  if (files.length === 0 && !writeResults) return false;

  const lacking = `${outputDir} lacks the final files of ${checkpoint.name} (${listed(files)}): the run stopped before writing them`;
  const resultsLine = `${outputDir} lacks the train results of ${checkpoint.name} (${TRAIN_RESULTS} ` +
    `${saved === null ? 'is missing' : 'is another step\'s'})`;
  if (dryRun) {
    if (files.length > 0) print(`  ${lacking}; the run will write them from the checkpoint`);
    if (writeResults) print(`  ${resultsLine}; the run will write them from the checkpoint's train_state.json`);
    return true;
  }
  writeOrExplain(outputDir, checkpoint, () => {
    writeFinalWeights(outputDir, checkpoint);
    if (writeResults) saveMetrics(outputDir, 'train', results, print);
    writeTextAtomic(join(outputDir, HF_STATE_FILE), hfState);
  });
  if (writeResults) {
    print(`${resultsLine}; wrote them from the checkpoint's train_state.json (train_runtime and the rates are this ` +
      'process\'s, which trained no step)');
  }
  if (files.length > 0) print(`${lacking}; wrote them from the checkpoint, the run is complete`);
  return true;
}

function listed(files: string[]): string {
  return `${files.slice(0, 3).join(', ')}${files.length > 3 ? ', ...' : ''}`;
}

function writeOrExplain(outputDir: string, checkpoint: CheckpointRef, write: () => void): void {
  try {
    write();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).syscall === undefined) throw e;
    throw new RetuneError(`writing the end of the run into ${outputDir} failed: ${fsReason(e)}; ${checkpoint.path} holds ` +
      'the finished run: run the same command again to write the rest');
  }
}

// What the final checkpoint says the whole run reached. A finished run has one that resumes (a save_only_model
// checkpoint is refused before this), so it holds train_state.json.
function checkpointTotals(checkpoint: CheckpointRef): RunTotals {
  const hf = readHfState(checkpoint.path);
  const runLoss = readTrainState(checkpoint.path).run_loss;
  return { trainLoss: runLoss.sum / runLoss.steps, totalFlos: hf.total_flos, epoch: hf.epoch };
}

// train_results.json as a finished run wrote it (null when there is none, or it lacks a metric).
function readTrainResults(outputDir: string): TrainResults | null {
  const path = join(outputDir, TRAIN_RESULTS);
  if (!existsSync(path)) return null;
  let parsed: Partial<Record<keyof TrainResults, unknown>>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Record<keyof TrainResults, unknown>>;
  } catch (err) {
    throw new RetuneError(`${path}: not valid JSON (${(err as Error).message}); move it away to write the run's results`);
  }
  const keys: (keyof TrainResults)[] = [
    'train_runtime', 'train_samples_per_second', 'train_steps_per_second', 'total_flos', 'train_loss', 'epoch',
  ];
  return keys.every((k) => typeof parsed[k] === 'number') ? (parsed as TrainResults) : null;
}

// Whether saved results state the checkpoint's run: an earlier end of a run later extended states another.
function sameTotals(saved: TrainResults, totals: RunTotals): boolean {
  return saved.train_loss === totals.trainLoss && saved.total_flos === totals.totalFlos && saved.epoch === totals.epoch;
}

function sameText(path: string, text: string): boolean {
  return existsSync(path) && readFileSync(path, 'utf8') === text;
}
