// The training loop. One optimizer step = gradient_accumulation_steps micro-batches of per_device_train_batch_size
// samples drawn from the Sampler, the loss of each normalised by the target tokens of the whole accumulated batch (as
// HF does since 4.46), gradients clipped to max_grad_norm, then one AdamW/SGD update with the LR the history gives for
// this step. Everything a step depends on (weights, moments, data cursor, dropout RNG, LR history, the log window) is
// in a checkpoint, so an unchanged resume continues bit for bit. Checkpoints are saved by save_strategy, after the
// last step whatever the strategy (a finished run can be extended), and after the step during which SIGINT/SIGTERM
// arrived.
import { RetuneError } from '../util/errors.js';
import type { RetuneConfig } from '../config/schema.js';
import { Sampler, type TokenizedDataset, type TokenizedRow, type Tokenizer } from '../data/index.js';
import { trainedProductWeights, type Finetuning } from '../model/adapters/index.js';
import type { CausalLM } from '../model/index.js';
import { clipGradNorm } from '../optim/clip.js';
import type { Optimizer } from '../optim/optimizer.js';
import { backward, clearTape } from '../tensor/autograd.js';
import { roundBf16Copies } from '../tensor/bf16-copies.js';
import type { Tensor } from '../tensor/tensor.js';
import { rotateCheckpoints, type CheckpointRef } from './checkpoint.js';
import { applyLrChange, readRequests } from './control.js';
import { evalBatches } from './evaluate.js';
import { saveTrainingCheckpoint } from './checkpoint-io.js';
import { estimateFlos, type HfStateFields, type HistoryEntry } from './hf-state.js';
import { lrForStep } from './lr-history.js';
import type { TrainLog } from './logging.js';
import type { Objective } from './stages/index.js';
import type { TrainState } from './state.js';

export interface TrainerInit {
  config: RetuneConfig;
  model: CausalLM;
  finetuning: Finetuning;
  objective: Objective; // the stage's loss: causal LM for pt/sft, pairwise for dpo
  optimizer: Optimizer;
  train: TokenizedDataset;
  eval: TokenizedDataset | null;
  padId: number;
  state: TrainState; // where this process starts: fresh, or a checkpoint's state with the resume plan applied
  logHistory: HistoryEntry[];
  resumedFrom: string | null; // never rotated away
  log: TrainLog;
  tokenizer: Tokenizer | null; // grown by added tokens: saved beside the weights (null: the base model's files are copied)
}

export interface TrainResult {
  globalStep: number;
  totalSteps: number;
  stoppedBy: NodeJS.Signals | null;
  lastCheckpoint: string | null;
  lastSaved: CheckpointRef | null; // the newest checkpoint this process saved: after the last step, the final one
  epoch: number; // fractional, as trainer_state.json holds it
  trainLoss: number; // mean loss of the run's applied steps, all processes together; NaN when none was applied
  stepsRun: number; // optimizer steps and samples drawn by this process
  samplesRun: number;
  tokensSeen: number; // non-pad tokens through the model since step 0
}

interface StepOutcome {
  loss: number;
  gradNorm: number;
  lr: number;
  applied: boolean;
  metrics: Record<string, number>; // the stage's metrics summed over the step's micro-batches
  microBatches: number;
}

export class Trainer {
  private readonly s: TrainerInit;
  private readonly state: TrainState;
  private readonly sampler: Sampler;
  private stopSignal: NodeJS.Signals | null = null;
  private lastCheckpoint: string | null;
  private lastSaved: CheckpointRef | null = null; // saved by this process
  private savedStep: number; // the step of the newest checkpoint on disk for this run
  private readonly bf16Weights: Tensor[]; // trained weights whose products read bf16 copies (bf16: true)

  constructor(init: TrainerInit) {
    this.s = init;
    this.state = structuredClone(init.state);
    this.sampler = new Sampler(init.train.size, init.config.seed, true);
    this.sampler.restore(this.state.sampler);
    this.lastCheckpoint = init.resumedFrom;
    this.savedStep = init.state.global_step;
    // bf16 mixed precision: the trained weights' products read bf16 copies of the float32 masters.
    this.bf16Weights = init.config.bf16 ? trainedProductWeights(init.model, init.finetuning.trainable) : [];
    roundBf16Copies(this.bf16Weights);
    this.state.bf16_copies = this.bf16Weights.length > 0;
  }

  async run(): Promise<TrainResult> {
    const start = { step: this.state.global_step, samples: this.state.samples_seen };
    const onSignal = (signal: NodeJS.Signals): void => {
      this.stopSignal ??= signal;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      while (this.state.global_step < this.state.total_steps && this.stopSignal === null) {
        const epochBefore = this.sampler.state().epoch;
        const saveDue = this.afterStep(this.step(), this.sampler.state().epoch > epochBefore);
        if (saveDue || this.state.global_step === this.state.total_steps) await this.save();
        // Signals are delivered between event-loop turns, so each step yields once.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (this.stopSignal !== null && this.savedStep !== this.state.global_step) await this.save();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return {
      globalStep: this.state.global_step, totalSteps: this.state.total_steps, stoppedBy: this.stopSignal,
      lastCheckpoint: this.lastCheckpoint, lastSaved: this.lastSaved, epoch: this.epoch(),
      trainLoss: this.state.run_loss.sum / this.state.run_loss.steps, stepsRun: this.state.global_step - start.step,
      samplesRun: this.state.samples_seen - start.samples, tokensSeen: this.state.tokens_seen,
    };
  }

  // One optimizer step; a non-finite loss or gradient leaves the weights and moments untouched.
  private step(): StepOutcome {
    const { config, finetuning, optimizer, train, objective } = this.s;
    const micro: TokenizedRow[][] = [];
    for (let a = 0; a < config.gradient_accumulation_steps; a++) {
      micro.push(this.sampler.next(config.per_device_train_batch_size).map((i) => train.get(i)));
    }
    this.applyControl();
    const lr = lrForStep(this.state.schedule, this.state.global_step);
    let loss = 0;
    let tokens = 0;
    let microBatches = 0;
    const metrics: Record<string, number> = {};
    for (const m of objective.microLosses(micro)) {
      loss += m.loss.item();
      tokens += m.tokens;
      microBatches += 1;
      for (const [k, v] of Object.entries(m.metrics)) metrics[k] = (metrics[k] ?? 0) + v;
      if (!Number.isFinite(loss)) {
        clearTape();
        break;
      }
      backward(m.loss);
    }
    this.state.global_step += 1;
    this.state.samples_seen += config.per_device_train_batch_size * config.gradient_accumulation_steps;
    this.state.tokens_seen += tokens;
    this.s.log.addTokens(tokens);
    const gradNorm = Number.isFinite(loss) ? clipGradNorm(finetuning.trainable, config.max_grad_norm) : NaN;
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) {
      optimizer.step(lr);
      roundBf16Copies(this.bf16Weights);
    }
    optimizer.zeroGrad();
    return { loss, gradNorm, lr, applied, metrics, microBatches };
  }

  // Requests appended to control.jsonl since the last step boundary, applied before this step takes its LR. Each
  // applied one is acknowledged in trainer_log.jsonl with the step it took effect at.
  private applyControl(): void {
    const { config, log } = this.s;
    const step = this.state.global_step;
    const read = readRequests(config.output_dir as string, this.state.control.offset);
    const waiting = [...this.state.control.pending, ...read.requests];
    this.state.control = { offset: read.offset, pending: waiting.filter((r) => r.at !== null && r.at > step) };
    for (const error of read.errors) {
      log.write({ current_steps: step, event: 'control_error', error });
      log.message(`step ${step}: ignored a control request: ${error}`);
    }
    for (const request of waiting.filter((r) => r.at === null || r.at <= step)) {
      this.state.schedule = applyLrChange(this.state.schedule, step, request);
      const { id, lr, ramp } = request;
      this.state.events.push({ kind: 'lr_change', step, time: new Date().toISOString(), id, lr, ramp });
      log.write({ current_steps: step, event: 'lr_change', id, lr, ramp, first_step: step + 1 });
      log.message(`step ${step}: learning rate set to ${lr}${ramp > 0 ? ` over ${ramp} steps` : ''} from step ${step + 1} (request ${id})`);
    }
  }

  // Logs, evaluates and counts bad steps after a step; returns whether a checkpoint is due.
  private afterStep(o: StepOutcome, crossedEpoch: boolean): boolean {
    const { config, log } = this.s;
    const step = this.state.global_step;
    if (!o.applied) {
      this.state.bad_steps += 1;
      const what = Number.isFinite(o.loss) ? `gradient norm ${o.gradNorm}` : `loss ${o.loss}`;
      log.write({ current_steps: step, event: 'skipped_step', reason: `non-finite ${what}`, lr: o.lr });
      log.message(`step ${step}: non-finite ${what}; the update was not applied (${this.state.bad_steps} in a row)`);
      if (this.state.bad_steps > config.max_bad_steps) {
        const last = this.lastCheckpoint === null ? 'no checkpoint was saved yet' : `${this.lastCheckpoint} is untouched`;
        throw new RetuneError(`training stopped at step ${step}: ${this.state.bad_steps} steps in a row had a non-finite ` +
          `loss or gradient (max_bad_steps ${config.max_bad_steps}); ${last}. Lower learning_rate or check the data.`);
      }
      return false;
    }
    this.state.bad_steps = 0;
    this.state.run_loss.sum += o.loss;
    this.state.run_loss.steps += 1;
    const window = this.state.log_window;
    window.loss_sum += o.loss;
    window.steps += 1;
    if (Object.keys(o.metrics).length > 0) {
      window.metrics ??= {};
      for (const [k, v] of Object.entries(o.metrics)) window.metrics[k] = (window.metrics[k] ?? 0) + v;
      window.micro_batches = (window.micro_batches ?? 0) + o.microBatches;
    }
    if (step % config.logging_steps === 0) this.logStep(o);
    const evalDue = config.eval_strategy === 'steps' ? step % config.eval_steps === 0 : config.eval_strategy === 'epoch' && crossedEpoch;
    if (evalDue && this.s.eval !== null) this.evaluate();
    return config.save_strategy === 'steps' ? step % config.save_steps === 0 : config.save_strategy === 'epoch' && crossedEpoch;
  }

  private logStep(o: StepOutcome): void {
    const { log } = this.s;
    const step = this.state.global_step;
    const total = this.state.total_steps;
    const window = this.state.log_window;
    const loss = window.loss_sum / window.steps;
    const metrics = window.metrics === undefined ? {} : this.s.objective.summarize(window.metrics, window.micro_batches as number);
    this.state.log_window = { loss_sum: 0, steps: 0 };
    const epoch = this.epoch();
    const t = log.timing(step, total);
    log.step({
      current_steps: step, total_steps: total, loss, lr: o.lr, grad_norm: o.gradNorm, epoch,
      percentage: Math.round((step / total) * 10000) / 100, elapsed_time: t.elapsed, remaining_time: t.remaining,
      throughput: Math.round(t.throughput * 100) / 100, total_tokens: this.state.tokens_seen,
    }, metrics);
    this.s.logHistory.push({ loss, grad_norm: o.gradNorm, learning_rate: o.lr, ...metrics, epoch, step });
  }

  // The stage's evaluation over the eval split, with dropout off and no tape.
  private evaluate(): void {
    const { config, finetuning, objective, log } = this.s;
    const data = this.s.eval as TokenizedDataset;
    const batches = evalBatches(data, config.per_device_eval_batch_size);
    finetuning.adapters?.setTraining(false);
    const result = objective.evaluate(batches);
    finetuning.adapters?.setTraining(true);
    const step = this.state.global_step;
    const metrics: Record<string, number> = {};
    for (const [k, v] of Object.entries(result)) metrics[`eval_${k}`] = v;
    const epoch = this.epoch();
    log.write({ current_steps: step, total_steps: this.state.total_steps, ...metrics, epoch });
    log.message(`step ${step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`);
    this.s.logHistory.push({ ...metrics, epoch, step });
  }

  private epoch(): number {
    const { epoch, consumed } = this.sampler.state();
    return epoch + consumed / this.s.train.size;
  }

  // The state a resume at this step needs.
  snapshot(): TrainState {
    const { finetuning, optimizer } = this.s;
    return {
      ...structuredClone(this.state),
      epoch: this.epoch(),
      sampler: this.sampler.state(),
      rng: finetuning.adapters?.getRngState() ?? null,
      optimizer: { kind: optimizer.kind, step: optimizer.stepCount },
    };
  }

  hfState(): HfStateFields {
    const { config } = this.s;
    return {
      globalStep: this.state.global_step, epoch: this.epoch(), maxSteps: this.state.total_steps,
      numTrainEpochs: Math.ceil(config.num_train_epochs), loggingSteps: config.logging_steps, evalSteps: config.eval_steps,
      saveSteps: config.save_steps, trainBatchSize: config.per_device_train_batch_size,
      tokensSeen: this.state.tokens_seen, totalFlos: estimateFlos(this.state.tokens_seen, this.s.model, this.s.finetuning),
      logHistory: this.s.logHistory,
    };
  }

  private async save(): Promise<void> {
    const { config, model, finetuning, objective, optimizer, log, tokenizer } = this.s;
    const outputDir = config.output_dir as string;
    const { path, movedAside, ref } = await saveTrainingCheckpoint(outputDir, {
      config, model, finetuning, objective, optimizer, tokenizer, trainState: this.snapshot(), hfState: this.hfState(),
    }, this.lastCheckpoint);
    this.lastCheckpoint = path;
    this.lastSaved = ref;
    this.savedStep = this.state.global_step;
    if (movedAside !== null) log.message(`an older folder named like the new checkpoint was kept as ${movedAside}`);
    const protectedPaths = this.s.resumedFrom === null ? [path] : [path, this.s.resumedFrom];
    const deleted = config.save_total_limit === null ? [] : rotateCheckpoints(outputDir, config.save_total_limit, protectedPaths);
    // The epoch rides along so the Board can show where a run ended when its last step was not a logged one.
    log.write({ current_steps: this.state.global_step, event: 'saved', checkpoint: path, deleted, epoch: this.epoch() });
    log.message(`saved ${path}${deleted.length > 0 ? ` (removed ${deleted.join(', ')})` : ''}`);
  }
}
