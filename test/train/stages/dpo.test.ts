// stage dpo against goldens made with PyTorch (test/fixtures/pref/generate.py): on fixed batches of the tiny trainer
// model, each pref_loss's loss and logged metrics equal the reference's to 1e-5 relative, every trainable gradient
// to 1e-4, and three AdamW steps give the same parameters to 1e-5. The reference math is LLaMA-Factory's
// CustomDPOTrainer, which differs from plain TRL 1.13 where noted in the generator: sigmoid/hinge/ipo are TRL 0.24's
// dpo_loss (which LLaMA-Factory calls; 1.13 has no label smoothing for sigmoid), ipo/orpo/simpo take length-averaged
// log-probs, orpo and simpo are LLaMA-Factory's own code, and pref_ftx adds its sft_loss. The plain-DPO case was
// also checked against TRL 1.13's DPOTrainer by the generator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TokenizedRow } from '../../../src/data/index.js';
import { createOptimizer } from '../../../src/optim/create.js';
import { backward } from '../../../src/tensor/autograd.js';
import { closeRel, closeTensor, floats, golden, setUp, type Pair } from './golden.js';

function rows(pairs: Pair[]): TokenizedRow[] {
  const ignored = (p: Pair): number[] => p.prompt.map(() => -100);
  return pairs.map((p) => ({
    inputIds: Int32Array.from([...p.prompt, ...p.chosen]), labels: Int32Array.from([...ignored(p), ...p.chosen]),
    rejectedIds: Int32Array.from([...p.prompt, ...p.rejected]), rejectedLabels: Int32Array.from([...ignored(p), ...p.rejected]),
  }));
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
    for (const [name, t] of finetuning.trainable) closeTensor(t.grad as Float32Array, floats(c.grads[name]), 1e-4, `grad ${name}`);

    const optimizer = createOptimizer(config, finetuning.trainable);
    optimizer.zeroGrad();
    for (const batch of golden.step_batches) {
      for (const step of objective.microLosses([rows(batch)])) backward(step.loss);
      optimizer.step(c.learning_rate);
      optimizer.zeroGrad();
    }
    for (const [name, t] of finetuning.trainable) closeTensor(t.data, floats(c.params_after[name]), 1e-5, `param ${name}`);
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
