// Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_, which HF Trainer calls with max_grad_norm.
// The norm is summed in float64 over parameters in sorted-name order, so it is the same bits on every run.

import { getBackend } from '../backend/index.js';
import { UsageError } from '../util/errors.js';
import { sortedNames, type NamedParams, type OptimParam } from './optimizer.js';

// L2 norm of all gradients together; parameters without a gradient count as zero.
export function globalGradNorm(params: NamedParams): number {
  const backend = getBackend();
  let sum = 0;
  for (const name of sortedNames(params)) {
    const grad = (params.get(name) as OptimParam).grad;
    if (grad !== null) sum += backend.sumSquares(grad, grad.length);
  }
  return Math.sqrt(sum);
}

// Scales every gradient by min(1, maxNorm / (norm + 1e-6)) and returns the norm before clipping. A non-finite norm
// leaves the gradients untouched and is returned as is: the caller skips that step. maxNorm 0 turns clipping off
// (HF's max_grad_norm: 0) and only measures.
export function clipGradNorm(params: NamedParams, maxNorm: number): number {
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) throw new UsageError(`max_grad_norm must be a finite number >= 0, got ${maxNorm}`);
  const norm = globalGradNorm(params);
  if (maxNorm === 0 || !Number.isFinite(norm)) return norm;
  // torch computes the coefficient as a float32 tensor and clamps it to 1 (a no-op multiply then).
  const coef = Math.fround(maxNorm / (norm + 1e-6));
  if (coef >= 1) return norm;
  const backend = getBackend();
  for (const name of sortedNames(params)) {
    const grad = (params.get(name) as OptimParam).grad;
    if (grad !== null) backend.scale(grad, coef, grad.length);
  }
  return norm;
}
