// The objective a config's stage trains with.
import { UsageError } from '../../util/errors.js';
import { TRAINING_STAGES, type RetuneConfig } from '../../config/schema.js';
import { splitList } from '../../model/adapters/finetuning.js';
import type { Finetuning } from '../../model/adapters/finetuning.js';
import type { CausalLM } from '../../model/index.js';
import { PreferenceObjective } from './dpo.js';
import { KtoObjective } from './kto.js';
import { CausalLmObjective, type Objective } from './objective.js';
import { usesReference } from './pref-loss.js';
import { loadReference } from './reference.js';
import { RewardObjective } from './rm.js';
import { ValueHead } from './value-head.js';

export type { Objective } from './objective.js';

// checkpoint: the folder a resume starts from, which holds what the stage trained besides the model (rm's value head).
// A value head joins finetuning.trainable, so the optimizer, clipping and checkpoints see it.
export async function buildObjective(
  config: RetuneConfig, model: CausalLM, finetuning: Finetuning, padId: number, checkpoint: string | null = null,
): Promise<Objective> {
  switch (config.stage) {
    case 'rm': {
      const head = valueHead(config, model, checkpoint);
      for (const [name, t] of head.parameters()) finetuning.trainable.set(name, t);
      return new RewardObjective(model, head, padId);
    }
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

// Where LLaMA-Factory looks for a value head to continue (the checkpoint on a resume, else the last adapter, else the
// model folder); a fresh one from the seed when there is none.
function valueHead(config: RetuneConfig, model: CausalLM, checkpoint: string | null): ValueHead {
  const C = model.config.hidden_size;
  const source = checkpoint ?? splitList(config.adapter_name_or_path).at(-1) ?? (config.model_name_or_path as string);
  const saved = ValueHead.read(source, C);
  if (saved === null && checkpoint !== null) throw new UsageError(`${checkpoint} holds no value_head.safetensors to resume stage rm from`);
  return saved ?? ValueHead.fresh(C, config.seed);
}
