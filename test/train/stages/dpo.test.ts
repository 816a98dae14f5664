// stage dpo against goldens made with PyTorch (test/fixtures/pref/generate.py): on fixed batches of the tiny trainer
// model, each pref_loss's loss and logged metrics equal the reference's to 1e-5 relative, every trainable gradient
// to 1e-4, and three AdamW steps give the same parameters to 1e-5. The reference math is LLaMA-Factory's
// CustomDPOTrainer, which differs from plain TRL 1.13 where noted in the generator: sigmoid/hinge/ipo are TRL 0.24's
// dpo_loss (which LLaMA-Factory calls; 1.13 has no label smoothing for sigmoid), ipo/orpo/simpo take length-averaged
// log-probs, orpo and simpo are LLaMA-Factory's own code, and pref_ftx adds its sft_loss. The plain-DPO case was
// also checked against TRL 1.13's DPOTrainer by the generator.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configSchema } from '../../../src/config/schema.js';
import type { TokenizedRow } from '../../../src/data/index.js';
import { applyFinetuning } from '../../../src/model/adapters/finetuning.js';
import { loadModel } from '../../../src/model/index.js';
import { createOptimizer } from '../../../src/optim/create.js';
import { backward } from '../../../src/tensor/autograd.js';
import { buildObjective } from '../../../src/train/stages/index.js';

interface Pair { prompt: number[]; chosen: number[]; rejected: number[] }
interface Case {
  name: string; finetuning_type: 'lora' | 'full'; pref_loss: 'sigmoid' | 'hinge' | 'ipo' | 'orpo' | 'simpo';
  pref_beta: number; pref_ftx: number; dpo_label_smoothing: number; simpo_gamma: number; learning_rate: number;
  loss: number; metrics: Record<string, number>; grads: Record<string, number[]>; params_after: Record<string, number[]>;
}
const golden = JSON.parse(readFileSync('test/fixtures/pref/golden.json', 'utf8')) as {
  pairs: Pair[]; step_batches: Pair[][]; cases: Case[];
};
const MODEL = 'test/fixtures/train/model';

function rows(pairs: Pair[]): TokenizedRow[] {
  const ignored = (p: Pair): number[] => p.prompt.map(() => -100);
  return pairs.map((p) => ({
    inputIds: Int32Array.from([...p.prompt, ...p.chosen]), labels: Int32Array.from([...ignored(p), ...p.chosen]),
    rejectedIds: Int32Array.from([...p.prompt, ...p.rejected]), rejectedLabels: Int32Array.from([...ignored(p), ...p.rejected]),
  }));
}

function closeRel(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(Math.abs(expected), 1e-6), `${what}: ${actual} vs ${expected}`);
}

// Every element within tol of the golden, relative to the tensor's largest magnitude.
function closeTensor(actual: Float32Array, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: size`);
  const scale = Math.max(1e-6, ...expected.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  assert.ok(worst <= tol, `${what}: max relative difference ${worst}`);
}

async function setUp(c: Case) {
  const config = configSchema.parse({
    stage: 'dpo', model_name_or_path: MODEL, finetuning_type: c.finetuning_type, pref_loss: c.pref_loss,
    pref_beta: c.pref_beta, pref_ftx: c.pref_ftx, dpo_label_smoothing: c.dpo_label_smoothing, simpo_gamma: c.simpo_gamma,
    learning_rate: c.learning_rate, weight_decay: 0,
    ...(c.finetuning_type === 'lora' ? { adapter_name_or_path: 'test/fixtures/pref/lora-init', lora_target: 'q_proj,v_proj' } : {}),
  });
  const model = await loadModel(MODEL);
  const finetuning = applyFinetuning(model, config);
  const objective = await buildObjective(config, model, finetuning, 0);
  return { config, finetuning, objective };
}

for (const c of golden.cases) {
  test(`dpo ${c.name}: loss, metrics, gradients and three AdamW steps match the PyTorch golden`, async () => {
    const { config, finetuning, objective } = await setUp(c);
    assert.deepEqual([...finetuning.trainable.keys()].sort(), Object.keys(c.grads).sort());
    const [m, ...rest] = [...objective.microLosses([rows(golden.pairs)])];
    assert.equal(rest.length, 0);
    closeRel(m.loss.item(), c.loss, 1e-5, 'loss');
    assert.deepEqual(Object.keys(m.metrics).sort(), Object.keys(c.metrics).sort());
    for (const [k, v] of Object.entries(c.metrics)) closeRel(m.metrics[k], v, 1e-5, k);
    backward(m.loss);
    for (const [name, t] of finetuning.trainable) closeTensor(t.grad as Float32Array, c.grads[name], 1e-4, `grad ${name}`);

    const optimizer = createOptimizer(config, finetuning.trainable);
    optimizer.zeroGrad();
    for (const batch of golden.step_batches) {
      for (const step of objective.microLosses([rows(batch)])) backward(step.loss);
      optimizer.step(c.learning_rate);
      optimizer.zeroGrad();
    }
    for (const [name, t] of finetuning.trainable) closeTensor(t.data, c.params_after[name], 1e-5, `param ${name}`);
  });
}

test('dpo: with gradient accumulation each micro-batch carries its pair mean divided by the micro-batches', async () => {
  const { objective } = await setUp(golden.cases[0]);
  const lossOf = (micro: TokenizedRow[][]): number[] => {
    const out: number[] = [];
    for (const m of objective.microLosses(micro)) {
      out.push(m.loss.item());
      backward(m.loss);
    }
    return out;
  };
  const [first, second] = [lossOf([rows(golden.pairs.slice(0, 1))])[0], lossOf([rows(golden.pairs.slice(1))])[0]];
  const halves = lossOf([rows(golden.pairs.slice(0, 1)), rows(golden.pairs.slice(1))]);
  assert.equal(halves.length, 2);
  closeRel(halves[0], first / 2, 1e-6, 'first micro-batch');
  closeRel(halves[1], second / 2, 1e-6, 'second micro-batch');
});
