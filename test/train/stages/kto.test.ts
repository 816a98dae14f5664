// stage kto against goldens made with PyTorch (test/fixtures/pref/generate.py): LLaMA-Factory's CustomKTOTrainer on
// fixed rows of the tiny trainer model (TRL's kto_loss, the KL estimate from the mismatched pairs without gradient
// and clamped at 0, kto_chosen_weight / kto_rejected_weight, LLaMA-Factory's rescaled pref_ftx; the plain case was
// also checked against TRL 1.13's KTOTrainer by the generator). Loss and raw metrics to 1e-5 relative, every
// trainable gradient to 1e-4, parameters after three AdamW steps (one batch with no desirable answer) to 1e-5.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TokenizedRow } from '../../../src/data/index.js';
import { ktoMetrics } from '../../../src/train/stages/kto-loss.js';
import { checkCase, closeRel, golden, type KtoRow } from './golden.js';

function rows(batch: KtoRow[]): TokenizedRow[] {
  const ignored = (r: KtoRow): number[] => r.prompt.map(() => -100);
  return batch.map((r) => ({
    inputIds: Int32Array.from([...r.prompt, ...r.answer]), labels: Int32Array.from([...ignored(r), ...r.answer]),
    klIds: Int32Array.from([...r.prompt, ...r.kl_answer]), klLabels: Int32Array.from([...ignored(r), ...r.kl_answer]),
    ktoTag: r.tag,
  }));
}

for (const c of golden.kto_cases) {
  test(`${c.name}: loss, metrics, gradients and three AdamW steps match the PyTorch golden`,
    () => checkCase(c, rows(golden.kto_rows), golden.kto_step_batches.map(rows)));
}

test('kto metrics of a log window: ratios of the summed rewards and log-probs, margin, kl averaged', () => {
  const sums = {
    'rewards/chosen_sum': 0.6, 'logps/chosen_sum': -30, 'count/chosen': 3,
    'rewards/rejected_sum': -0.2, 'logps/rejected_sum': -12, 'count/rejected': 2, kl: 0.5,
  };
  const m = ktoMetrics(sums, 2);
  closeRel(m['rewards/chosen'], 0.2, 1e-12, 'rewards/chosen');
  closeRel(m['rewards/rejected'], -0.1, 1e-12, 'rewards/rejected');
  closeRel(m['rewards/margins'], 0.3, 1e-12, 'rewards/margins');
  closeRel(m['logps/chosen'], -10, 1e-12, 'logps/chosen');
  closeRel(m['logps/rejected'], -6, 1e-12, 'logps/rejected');
  closeRel(m.kl, 0.25, 1e-12, 'kl');
  assert.deepEqual(Object.keys(ktoMetrics({ 'count/chosen': 0, kl: 0 }, 1)), ['kl']);
});
