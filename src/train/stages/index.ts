// The objective a config's stage trains with.
import { UsageError } from '../../util/errors.js';
import { TRAINING_STAGES, type RetuneConfig } from '../../config/schema.js';
import type { Finetuning } from '../../model/adapters/finetuning.js';
import type { CausalLM } from '../../model/index.js';
import { PreferenceObjective } from './dpo.js';
import { KtoObjective } from './kto.js';
import { CausalLmObjective, type Objective } from './objective.js';
import { usesReference } from './pref-loss.js';
import { loadReference } from './reference.js';

export { CausalLmObjective, countTargets, type MicroLoss, type Objective } from './objective.js';

export async function buildObjective(config: RetuneConfig, model: CausalLM, finetuning: Finetuning, padId: number): Promise<Objective> {
  switch (config.stage) {
    case 'pt':
    case 'sft':
      return new CausalLmObjective(model, padId);
    case 'dpo': {
      if (model.lmHead.adapter !== null) throw new UsageError('stage dpo: lora_target must not include lm_head');
      const params = {
        loss: config.pref_loss, beta: config.pref_beta, ftx: config.pref_ftx, labelSmoothing: config.dpo_label_smoothing,
        simpoGamma: config.simpo_gamma,
      };
      const reference = usesReference(config.pref_loss) ? await loadReference(config, model, finetuning) : null;
      return new PreferenceObjective(model, reference, params, padId);
    }
    case 'kto': {
      if (model.lmHead.adapter !== null) throw new UsageError('stage kto: lora_target must not include lm_head');
      const params = {
        beta: config.pref_beta, ftx: config.pref_ftx, chosenWeight: config.kto_chosen_weight,
        rejectedWeight: config.kto_rejected_weight,
      };
      return new KtoObjective(model, await loadReference(config, model, finetuning), params, padId);
    }
    default:
      throw new UsageError(`stage ${config.stage} is not supported yet (stages that train: ${TRAINING_STAGES.join(', ')})`);
  }
}
