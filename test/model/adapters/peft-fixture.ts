// The PEFT fixture shared by the adapter and export tests: a tiny base model, fixed ids and the logits PEFT computed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CausalLM } from '../../../src/model/causal-lm.js';
import { noGrad } from '../../../src/tensor/autograd.js';

export { maxAbsDiff as maxDiff } from '../../tensor/helpers.js';

export const FIXTURES = 'test/fixtures/peft';
export const BASE = join(FIXTURES, 'base');
export const golden = JSON.parse(readFileSync(join(FIXTURES, 'logits.json'), 'utf8')) as Record<string, number[]> & { ids: number[][] };
const ids = Int32Array.from(golden.ids.flat());
const [B, T] = [golden.ids.length, golden.ids[0].length];

// (B, T, V) logits of the fixture ids, copied out of the pool.
export function logits(model: CausalLM): Float32Array {
  return noGrad(() => model.forward(ids, B, T)).data.slice();
}
