// Plain SGD as torch.optim.SGD with HF's defaults (momentum 0): p -= lr * (g + wd * p), the weight decay coupled
// into the gradient and applied to the decay group only. It keeps no moments, so its state is just the step count.

import { getBackend } from '../backend/index.js';
import {
  checkLr, checkParam, checkStateStep, decaysWeight, gradOf, readStateTensors, sortedNames, splitDecay, zeroGrads,
  type NamedParams, type Optimizer, type OptimizerState, type OptimParam,
} from './optimizer.js';

export class SGD implements Optimizer {
  readonly kind = 'sgd';
  private readonly names: string[];
  private steps = 0;

  constructor(private readonly params: NamedParams, private readonly weightDecay = 0) {
    this.names = sortedNames(params);
    for (const name of this.names) checkParam(name, params.get(name) as OptimParam);
  }

  get stepCount(): number {
    return this.steps;
  }

  // Every gradient is checked before any parameter changes; parameters without one are skipped.
  step(lr: number): void {
    checkLr(lr);
    const grads = this.names.map((name) => gradOf(name, this.params.get(name) as OptimParam));
    const backend = getBackend();
    this.steps += 1;
    this.names.forEach((name, i) => {
      const grad = grads[i];
      if (grad === null) return;
      const data = (this.params.get(name) as OptimParam).data;
      const wd = decaysWeight(name) ? this.weightDecay : 0;
      // p - lr * (g + wd * p) == p * (1 - lr * wd) - lr * g, which needs no scratch buffer.
      if (wd !== 0) backend.scale(data, 1 - lr * wd, data.length);
      backend.axpy(-lr, grad, data, data.length);
    });
  }

  zeroGrad(): void {
    zeroGrads(this.params);
  }

  state(): OptimizerState {
    return { step: this.steps, tensors: new Map() };
  }

  loadState(state: OptimizerState): void {
    checkStateStep(state.step, 'SGD');
    readStateTensors('SGD', state.tensors, new Map());
    this.steps = state.step;
  }

  paramGroups(): { decay: string[]; noDecay: string[] } {
    return splitDecay(this.names);
  }
}
