// The preference goldens of test/fixtures/pref/golden.json (made by test/fixtures/pref/generate.py) and how the
// stage tests compare against them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configSchema } from '../../../src/config/schema.js';
import { applyFinetuning } from '../../../src/model/adapters/finetuning.js';
import { loadModel } from '../../../src/model/index.js';
import type { TokenizedRow } from '../../../src/data/index.js';
import { createOptimizer } from '../../../src/optim/create.js';
import { backward } from '../../../src/tensor/autograd.js';
import { buildObjective } from '../../../src/train/stages/index.js';

export interface GoldenCase {
  name: string; stage: 'dpo' | 'kto' | 'rm'; finetuning_type: 'lora' | 'full';
  pref_loss: 'sigmoid' | 'hinge' | 'ipo' | 'orpo' | 'simpo'; pref_beta: number; pref_ftx: number;
  dpo_label_smoothing: number; simpo_gamma: number; kto_chosen_weight: number; kto_rejected_weight: number;
  learning_rate: number; loss: number; metrics: Record<string, number>;
  grads: Record<string, string>; params_after: Record<string, string>; // base64 float32, little-endian
}
export interface Pair { prompt: number[]; chosen: number[]; rejected: number[] }
export interface KtoRow { prompt: number[]; answer: number[]; kl_answer: number[]; tag: boolean }

export const golden = JSON.parse(readFileSync('test/fixtures/pref/golden.json', 'utf8')) as {
  pairs: Pair[]; step_batches: Pair[][]; cases: GoldenCase[];
  kto_rows: KtoRow[]; kto_step_batches: KtoRow[][]; kto_cases: GoldenCase[]; rm_cases: GoldenCase[];
};

const MODEL = 'test/fixtures/train/model';

export function floats(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

export function closeRel(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(Math.abs(expected), 1e-6), `${what}: ${actual} vs ${expected}`);
}

// Every element within tol of the golden, relative to the tensor's largest magnitude.
export function closeTensor(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: size`);
  let scale = 1e-6;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  assert.ok(worst <= tol, `${what}: max relative difference ${worst}`);
}

// The case's model (LoRA: the fixture adapter, trained further, and for rm its value head), its trainable set and
// the stage's objective.
export async function setUp(c: GoldenCase) {
  const config = configSchema.parse({
    stage: c.stage, model_name_or_path: MODEL, finetuning_type: c.finetuning_type, pref_loss: c.pref_loss,
    pref_beta: c.pref_beta, pref_ftx: c.pref_ftx, dpo_label_smoothing: c.dpo_label_smoothing, simpo_gamma: c.simpo_gamma,
    kto_chosen_weight: c.kto_chosen_weight, kto_rejected_weight: c.kto_rejected_weight, learning_rate: c.learning_rate,
    weight_decay: 0,
    ...(c.finetuning_type === 'lora' ? { adapter_name_or_path: 'test/fixtures/pref/lora-init', lora_target: 'q_proj,v_proj' } : {}),
  });
  const model = await loadModel(MODEL);
  const finetuning = applyFinetuning(model, config);
  const objective = await buildObjective(config, model, finetuning, 0);
  return { config, finetuning, objective };
}

// The check every dpo/kto case makes: loss and metrics of `first` to 1e-5 relative (rewards: see below), each
// trainable gradient to 1e-4, then the parameters after one AdamW step per batch of `steps` to 1e-5.
export async function checkCase(c: GoldenCase, first: TokenizedRow[], steps: TokenizedRow[][]): Promise<void> {
  const { config, finetuning, objective } = await setUp(c);
  assert.deepEqual([...finetuning.trainable.keys()].sort(), Object.keys(c.grads).sort());
  const [m, ...rest] = [...objective.microLosses([first])];
  assert.equal(rest.length, 0);
  closeRel(m.loss.item(), c.loss, 1e-5, 'loss');
  assert.deepEqual(Object.keys(m.metrics).sort(), Object.keys(c.metrics).sort());
  // A reward is beta times a difference of policy and reference log-probabilities that agree to a few digits, so one
  // float32 rounding of either is ~1e-5 of the reward: rewards are checked to 1e-6 of beta times the largest |logps/*|.
  const logps = Object.entries(c.metrics).filter(([k]) => k.startsWith('logps/')).map(([, v]) => Math.abs(v));
  const rewardScale = c.pref_beta * Math.max(0, ...logps);
  for (const [k, v] of Object.entries(c.metrics)) {
    const reward = k.startsWith('rewards/') && k !== 'rewards/accuracies' && rewardScale > 0;
    if (reward) assert.ok(Math.abs(m.metrics[k] - v) <= 1e-6 * rewardScale, `${k}: ${m.metrics[k]} vs ${v}`);
    else closeRel(m.metrics[k], v, 1e-5, k);
  }
  backward(m.loss);
  for (const [name, t] of finetuning.trainable) closeTensor(t.grad as Float32Array, floats(c.grads[name]), 1e-4, `grad ${name}`);

  const optimizer = createOptimizer(config, finetuning.trainable);
  optimizer.zeroGrad();
  for (const batch of steps) {
    for (const step of objective.microLosses([batch])) backward(step.loss);
    optimizer.step(c.learning_rate);
    optimizer.zeroGrad();
  }
  for (const [name, t] of finetuning.trainable) closeTensor(t.data, floats(c.params_after[name]), 1e-5, `param ${name}`);
}
