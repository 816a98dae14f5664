// The reference model of DPO-style losses, as LLaMA-Factory's create_ref_model picks it: ref_model (plus
// ref_model_adapters, merged) when set; otherwise with LoRA the policy itself with its adapters switched off (no
// second copy of the weights), and with full/freeze a frozen copy of model_name_or_path as loaded before training.
// Its log-probs are computed once per micro-batch without the tape; it is never saved in checkpoints.
import { UsageError } from '../../util/errors.js';
import type { RetuneConfig } from '../../config/schema.js';
import type { Batch } from '../../data/index.js';
import { mergeAdapterPaths, splitList, type Finetuning } from '../../model/adapters/finetuning.js';
import { loadModel, type CausalLM } from '../../model/index.js';
import { noGrad } from '../../tensor/autograd.js';

export interface Reference {
  describe: string; // for the plan: where the reference comes from
  logProbs(b: Batch): Float32Array; // (B) each row's summed target log-probs
}

function frozen(model: CausalLM, describe: string): Reference {
  return { describe, logProbs: (b) => noGrad(() => model.sequenceLogProbs(b.ids, b.labels, b.B, b.T).data.slice()) };
}

export async function loadReference(config: RetuneConfig, policy: CausalLM, finetuning: Finetuning): Promise<Reference> {
  if (config.ref_model !== null) {
    const model = await loadModel(config.ref_model, { frozenBf16: config.bf16 });
    const adapters = splitList(config.ref_model_adapters);
    mergeAdapterPaths(model, adapters);
    return frozen(model, `ref_model ${config.ref_model}${adapters.length > 0 ? ` with ${adapters.join(', ')}` : ''}`);
  }
  const adapters = finetuning.adapters;
  if (adapters === null) {
    const model = await loadModel(config.model_name_or_path as string, { frozenBf16: config.bf16 });
    return frozen(model, `a frozen copy of ${config.model_name_or_path}`);
  }
  if (adapters.saved.size > 0) {
    throw new UsageError(`additional_target ${config.additional_target}: modules trained in full have no frozen ` +
      'original to serve as the reference model; set ref_model, or remove additional_target');
  }
  const reference = frozen(policy, 'the base model (adapters disabled)');
  return { ...reference, logProbs: (b) => adapters.withoutAdapters(() => reference.logProbs(b)) };
}
