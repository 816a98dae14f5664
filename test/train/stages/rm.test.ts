// stage rm against a golden made with PyTorch (test/fixtures/pref/generate.py): LLaMA-Factory's PairwiseTrainer on
// fixed pairs of the tiny trainer model, LoRA adapter and value head continued from test/fixtures/pref/lora-init (where
// LLaMA-Factory looks for value_head.safetensors). TRL's ValueHead dropout is left out on both sides. Loss to 1e-5
// relative, every trainable gradient (LoRA and v_head.summary.weight) to 1e-4, parameters after three AdamW steps to
// 1e-5. The value head's bias cancels in chosen - rejected: its gradient is zero up to rounding on both sides, so it
// is checked as zero, and after the steps only within Adam's bound of lr per step (Adam scales rounding noise to lr).
const BIAS = 'v_head.summary.bias';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TokenizedRow } from '../../../src/data/index.js';
import { createOptimizer } from '../../../src/optim/create.js';
import { backward } from '../../../src/tensor/autograd.js';
import { ValueHead } from '../../../src/train/stages/value-head.js';
import { closeRel, closeTensor, floats, golden, setUp, type Pair } from './golden.js';

function rows(pairs: Pair[]): TokenizedRow[] {
  const ignored = (p: Pair): number[] => p.prompt.map(() => -100);
  return pairs.map((p) => ({
    inputIds: Int32Array.from([...p.prompt, ...p.chosen]), labels: Int32Array.from([...ignored(p), ...p.chosen]),
    rejectedIds: Int32Array.from([...p.prompt, ...p.rejected]), rejectedLabels: Int32Array.from([...ignored(p), ...p.rejected]),
  }));
}

for (const c of golden.rm_cases) {
  test(`${c.name}: loss, gradients and three AdamW steps match the PyTorch golden`, async () => {
    const { config, finetuning, objective } = await setUp(c);
    assert.deepEqual([...finetuning.trainable.keys()].sort(), Object.keys(c.grads).sort());
    const [m] = [...objective.microLosses([rows(golden.pairs)])];
    closeRel(m.loss.item(), c.loss, 1e-5, 'loss');
    backward(m.loss);
    for (const [name, t] of finetuning.trainable) {
      if (name === BIAS) assert.ok(Math.abs((t.grad as Float32Array)[0]) < 1e-6, `grad ${name}: ${(t.grad as Float32Array)[0]}`);
      else closeTensor(t.grad as Float32Array, floats(c.grads[name]), 1e-4, `grad ${name}`);
    }
    const biasBefore = (finetuning.trainable.get(BIAS) as { data: Float32Array }).data[0];
    const optimizer = createOptimizer(config, finetuning.trainable);
    optimizer.zeroGrad();
    for (const batch of golden.step_batches) {
      for (const step of objective.microLosses([rows(batch)])) backward(step.loss);
      optimizer.step(c.learning_rate);
      optimizer.zeroGrad();
    }
    for (const [name, t] of finetuning.trainable) {
      const bound = golden.step_batches.length * c.learning_rate * 1.001;
      if (name === BIAS) assert.ok(Math.abs(t.data[0] - biasBefore) <= bound, `${name} moved ${t.data[0] - biasBefore}`);
      else closeTensor(t.data, floats(c.params_after[name]), 1e-5, `param ${name}`);
    }
  });
}

test('rm eval: accuracy is the share of pairs whose chosen answer scores higher', async () => {
  const { objective } = await setUp(golden.rm_cases[0]);
  const one = (p: Pair) => objective.evaluate([rows([p])]);
  const each = golden.pairs.map(one);
  for (const e of each) assert.ok(e.accuracy === 0 || e.accuracy === 1);
  const all = objective.evaluate([rows(golden.pairs.slice(0, 2)), rows(golden.pairs.slice(2))]);
  closeRel(all.accuracy, each.reduce((s, e) => s + e.accuracy, 0) / each.length, 1e-12, 'accuracy');
  closeRel(all.loss, each.reduce((s, e) => s + e.loss, 0) / each.length, 1e-6, 'loss');
});

test('the value head round-trips through value_head.safetensors under LLaMA-Factory\'s tensor names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-vhead-'));
  try {
    const head = ValueHead.fresh(16, 3);
    head.write(dir);
    const back = ValueHead.read(dir, 16) as ValueHead;
    assert.deepEqual([...back.parameters().keys()], ['v_head.summary.weight', 'v_head.summary.bias']);
    assert.deepEqual(back.weight.data, head.weight.data);
    assert.deepEqual(back.bias.data, head.bias.data);
    assert.equal(ValueHead.read(join(dir, 'none'), 16), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
