// Loads test/fixtures/optim/optimizers.json (written by test/fixtures/optim/generate.py from torch) into named
// parameters the optimizers accept, and compares float32 results with torch's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nativeAvailable } from '../../src/backend/index.js';
import type { OptimParam } from '../../src/optim/optimizer.js';

type Named = Record<string, number[]>;

export interface OptimizerCase {
  shapes: Record<string, number[]>;
  initial: Named;
  steps: { hyper: { lr: number; betas?: [number, number]; eps?: number; weight_decay: number }; grads: Named; params: Named }[];
  state: Named; // torch's exp_avg.<name> / exp_avg_sq.<name> after the last step
}

export interface ClipCase {
  maxNorm: number;
  grads: Named;
  norm: number;
  clipped: Named;
}

export const golden = JSON.parse(readFileSync('test/fixtures/optim/optimizers.json', 'utf8')) as {
  decay_rule: Record<string, boolean>;
  adamw: OptimizerCase;
  adamw_rebeta: OptimizerCase;
  sgd: OptimizerCase;
  clip_active: ClipCase;
  clip_inactive: ClipCase;
};

export const backends: ('reference' | 'native')[] = nativeAvailable() ? ['reference', 'native'] : ['reference'];

export function namedParams(values: Named): Map<string, OptimParam> {
  const params = new Map<string, OptimParam>();
  for (const [name, data] of Object.entries(values)) params.set(name, { data: Float32Array.from(data), grad: null });
  return params;
}

export function setGrads(params: Map<string, OptimParam>, grads: Named): void {
  for (const [name, param] of params) param.grad = Float32Array.from(grads[name]);
}

// float32 rounding differs from torch's kernels by a few ulps per operation.
export function assertNear(actual: Float32Array, expected: number[], what: string, rtol = 2e-6, atol = 1e-7): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= atol + rtol * Math.abs(expected[i]), `${what}[${i}]: got ${actual[i]}, torch ${expected[i]}`);
  }
}
