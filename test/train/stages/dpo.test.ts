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
import { backward } from '../../../src/tensor/autograd.js';
import { checkCase, closeRel, golden, setUp, type Pair } from './golden.js';

function rows(pairs: Pair[]): TokenizedRow[] {
  const ignored = (p: Pair): number[] => p.prompt.map(() => -100);
  return pairs.map((p) => ({
    inputIds: Int32Array.from([...p.prompt, ...p.chosen]), labels: Int32Array.from([...ignored(p), ...p.chosen]),
    rejectedIds: Int32Array.from([...p.prompt, ...p.rejected]), rejectedLabels: Int32Array.from([...ignored(p), ...p.rejected]),
  }));
}

for (const c of golden.cases) {
  test(`dpo ${c.name}: loss, metrics, gradients and three AdamW steps match the PyTorch golden`,
    () => checkCase(c, rows(golden.pairs), golden.step_batches.map(rows)));
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
