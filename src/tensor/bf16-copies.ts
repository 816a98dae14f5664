// bf16 mixed precision for trainable weights: LLaMA-Factory's `bf16: true` with full or freeze tuning, where the
// trained parameters are float32 and HF's Trainer runs the products under bf16 autocast. Here the optimizer keeps
// updating each weight's float32 `data` (the master), and every product that reads the weight (linear, the LM head:
// forward and dx) reads its bf16 rounding instead, through the same bf16 kernels as a frozen bf16 weight. The copy is
// remade from the master after each optimizer step, so it is a function of the weights alone and a resume makes the
// same copies. The weight gradient g^T x takes g and x rounded to bf16, as under autocast; sums and outputs stay
// float32, as with frozen bf16 weights.
import { getBackend } from '../backend/index.js';
import { RetuneError } from '../util/errors.js';
import type { Tensor } from './tensor.js';

// (Re)makes the bf16 copy of every weight from its float32 values.
export function roundBf16Copies(weights: Iterable<Tensor>): void {
  for (const w of weights) {
    if (w.bf16 !== null) throw new RetuneError('roundBf16Copies: a frozen bf16 weight needs no copy');
    w.bf16Copy ??= new Uint16Array(w.size);
    getBackend().roundBf16(w.data, w.bf16Copy, w.size);
  }
}
