// AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments), over named parameters in two HF
// groups: weight decay on matrices, none on biases and norm weights. The LR comes in with every step; the
// hyperparameters are the config's, already checked by the schema.

import { getBackend } from '../backend/index.js';
import {
  checkLr, checkParam, checkStateStep, decaysWeight, gradOf, readStateTensors, sortedNames, splitDecay, zeroGrads,
  type NamedParams, type Optimizer, type OptimizerState, type OptimParam,
} from './optimizer.js';

export interface AdamWHyperparameters {
  beta1: number; // adam_beta1
  beta2: number; // adam_beta2
  eps: number; // adam_epsilon
  weightDecay: number; // weight_decay, applied to the decay group only
}

export const ADAMW_DEFAULTS: AdamWHyperparameters = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

interface Slot {
  name: string;
  param: OptimParam;
  expAvg: Float32Array; // first moment, same length as the parameter
  expAvgSq: Float32Array; // second moment
  decay: boolean;
}

export class AdamW implements Optimizer {
  readonly kind = 'adamw';
  private readonly slots: Slot[];
  private readonly hyper: AdamWHyperparameters;
  private steps = 0;

  constructor(private readonly params: NamedParams, hyper: AdamWHyperparameters = ADAMW_DEFAULTS) {
    this.hyper = { ...hyper };
    this.slots = sortedNames(params).map((name) => {
      const param = checkParam(name, params.get(name) as OptimParam);
      const n = param.data.length;
      return { name, param, expAvg: new Float32Array(n), expAvgSq: new Float32Array(n), decay: decaysWeight(name) };
    });
  }

  get stepCount(): number {
    return this.steps;
  }

  get hyperparameters(): AdamWHyperparameters {
    return { ...this.hyper };
  }

  // One update of every parameter that has a gradient. A parameter without one is skipped, like torch does for
  // grad None; the shared step counter still advances. Every gradient is checked before any parameter changes.
  step(lr: number): void {
    checkLr(lr);
    const grads = this.slots.map((slot) => gradOf(slot.name, slot.param));
    const backend = getBackend();
    const { beta1, beta2, eps, weightDecay } = this.hyper;
    this.steps += 1;
    const bc1 = 1 - beta1 ** this.steps;
    const bc2 = 1 - beta2 ** this.steps;
    this.slots.forEach((slot, i) => {
      const grad = grads[i];
      if (grad === null) return;
      const wd = slot.decay ? weightDecay : 0;
      backend.adamw(slot.param.data, grad, slot.expAvg, slot.expAvgSq, slot.param.data.length,
        lr, beta1, beta2, eps, wd, bc1, bc2);
    });
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }

  // The live moment buffers (no copy: they can be as large as the model). Write them out before the next step.
  state(): OptimizerState {
    return { step: this.steps, tensors: this.stateBuffers() };
  }

  loadState(state: OptimizerState): void {
    checkStateStep(state.step, 'AdamW');
    readStateTensors('AdamW', state.tensors, this.stateBuffers());
    this.steps = state.step;
  }

  paramGroups(): { decay: string[]; noDecay: string[] } {
    return splitDecay(this.slots.map((s) => s.name));
  }

  private stateBuffers(): Map<string, Float32Array> {
    const tensors = new Map<string, Float32Array>();
    for (const slot of this.slots) {
      tensors.set(`exp_avg.${slot.name}`, slot.expAvg);
      tensors.set(`exp_avg_sq.${slot.name}`, slot.expAvgSq);
    }
    return tensors;
  }
}
