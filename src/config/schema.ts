// Every configuration key Retune accepts, with LLaMA-Factory's names and defaults. Groups exist so `retune train
// --help` can print the keys the way LLaMA-Factory's argument dataclasses group them; the config itself is flat.
import { z } from 'zod';

// LLaMA-Factory writes lists as comma-separated strings (`dataset: a,b`); YAML lists are accepted and joined so every
// consumer sees one form. Numbers are allowed because YAML reads `interleave_probs: 1` as one.
const listItem = z.union([z.string(), z.number()]);
const commaList = z
  .union([listItem, z.array(listItem)])
  .transform((v) => (Array.isArray(v) ? v.join(',') : String(v)).split(',').map((s) => s.trim()).filter((s) => s !== ''))
  .transform((items) => items.join(','));

const optionalString = z.string().nullable().default(null);
const optionalList = commaList.nullable().default(null);
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const modelGroup = z.object({
  model_name_or_path: optionalString.describe('Folder of the base model (HF layout: config.json + safetensors).'),
  adapter_name_or_path: optionalList.describe('Comma list of LoRA adapter folders (PEFT layout) to load, in order.'),
  train_from_scratch: z.boolean().default(false)
    .describe('Initialise the weights randomly from config.json instead of loading them.'),
  trust_remote_code: z.boolean().default(false)
    .describe('Accepted for LLaMA-Factory configs; Retune runs no model code.'),
  quantization_bit: z.number().int().nullable().default(null)
    .refine((v) => v === null, 'quantization is not supported yet; remove quantization_bit')
    .describe('Not supported yet (QLoRA); must stay unset.'),
  flash_attn: z.enum(['auto', 'disabled', 'sdpa', 'fa2']).default('auto')
    .describe('GPU attention kernel; no effect on CPU.'),
  infer_backend: z.string().default('huggingface')
    .describe('Accepted for LLaMA-Factory configs; chat always uses Retune\'s engine.'),
  threads: nonNegativeInt.default(0)
    .describe('Compute threads of the native backend (0 = RETUNE_THREADS or all cores; set, it wins over both).'),
});

export const dataGroup = z.object({
  template: optionalString
    .describe('Chat template name (LLaMA-Factory registry: default, alpaca, chatml, llama3, qwen, ...).'),
  dataset: optionalList.describe('Comma list of dataset names from dataset_dir/dataset_info.json used for training.'),
  eval_dataset: optionalList.describe('Comma list of dataset names used for evaluation.'),
  dataset_dir: z.string().default('data').describe('Folder holding dataset_info.json and the data files.'),
  cutoff_len: positiveInt.default(2048).describe('Maximum tokens of one training row after tokenization.'),
  max_samples: positiveInt.nullable().default(null).describe('Keep at most this many samples of each dataset.'),
  val_size: z.number().nonnegative().default(0)
    .describe('Eval split held out from the training data: fraction (<1) or count.'),
  mix_strategy: z.enum(['concat', 'interleave_under', 'interleave_over']).default('concat')
    .describe('How several datasets are mixed.'),
  interleave_probs: optionalList.describe('Comma list of sampling probabilities for interleave_* mixing.'),
  train_on_prompt: z.boolean().default(false).describe('Also compute the loss on prompt tokens.'),
  mask_history: z.boolean().default(false).describe('Compute the loss on the last turn only.'),
  packing: z.boolean().nullable().default(null)
    .describe('Pack several samples into one row (attention never crosses samples); unset: on for pt, off for sft.'),
  neat_packing: z.boolean().default(false)
    .describe('Same as packing: true (Retune\'s packing never attends across samples).'),
  tool_format: optionalString
    .describe('Function-calling format of the template (default, glm4, llama3, mistral, qwen).'),
  enable_thinking: z.boolean().nullable().default(true)
    .describe('Reasoning templates: keep the model\'s thoughts (false: empty thought in the prompt).'),
  tokenized_path: optionalString.describe('Folder caching tokenized datasets, keyed by a fingerprint of the inputs.'),
  overwrite_cache: z.boolean().default(false)
    .describe('Tokenize again even when tokenized_path holds a matching cache.'),
  preprocessing_num_workers: nonNegativeInt.nullable().default(null)
    .describe('Tokenization worker threads (unset: one per core for large datasets); rows are the same for any count.'),
});

// LLaMA-Factory's stages that Retune trains; the others are known but refused.
export const TRAINING_STAGES: readonly string[] = ['pt', 'sft', 'dpo', 'kto'];

export const finetuningGroup = z.object({
  stage: z.enum(['pt', 'sft', 'rm', 'ppo', 'dpo', 'kto']).default('sft')
    .refine((v) => TRAINING_STAGES.includes(v), {
      error: (issue) => `${String(issue.input)} is not supported yet (stages that train: ${TRAINING_STAGES.join(', ')})`,
    })
    .describe('Training stage: pt (pre-training), sft (supervised fine-tuning), dpo (preference pairs) or kto.'),
  finetuning_type: z.enum(['lora', 'freeze', 'full']).default('lora')
    .describe('What is trained: LoRA adapters, the last layers, or all weights.'),
  lora_rank: positiveInt.default(8).describe('LoRA rank r.'),
  lora_alpha: z.number().positive().nullable().default(null)
    .describe('LoRA scaling numerator (scale alpha/r); unset: 2 * lora_rank.'),
  lora_dropout: z.number().min(0).max(1).default(0).describe('Dropout on the LoRA input.'),
  lora_target: commaList.default('all')
    .describe('Comma list of Linear module names that get LoRA; all = every Linear except lm_head.'),
  additional_target: optionalList
    .describe('Comma list of modules trained in full next to LoRA (PEFT modules_to_save).'),
  use_rslora: z.boolean().default(false).describe('Rank-stabilised LoRA: scale alpha/sqrt(r).'),
  use_dora: z.boolean().default(false).describe('Weight-decomposed LoRA (DoRA) magnitude vector.'),
  pissa_init: z.boolean().default(false)
    .refine((v) => !v, 'pissa_init is not supported yet; remove it or set it to false')
    .describe('Not supported yet; must stay false.'),
  create_new_adapter: z.boolean().default(false)
    .describe('Train a fresh adapter on top of the loaded adapter_name_or_path ones.'),
  freeze_trainable_layers: z.number().int().refine((v) => v !== 0, 'must not be 0').default(2)
    .describe('freeze: train the last N layers (negative: the first -N).'),
  freeze_trainable_modules: commaList.default('all')
    .describe('freeze: comma list of module names trained inside those layers.'),
  freeze_extra_modules: optionalList
    .describe('freeze: comma list of modules outside the layers also trained (e.g. embed_tokens).'),
  pref_loss: z.enum(['sigmoid', 'hinge', 'ipo', 'orpo', 'simpo']).default('sigmoid')
    .describe('dpo: the preference loss (sigmoid is DPO; orpo and simpo use no reference model).'),
  pref_beta: z.number().positive().default(0.1).describe('dpo, kto: beta, the strength of the preference term.'),
  pref_ftx: z.number().nonnegative().default(0)
    .describe('dpo, kto: weight of the SFT loss (chosen answer, per token) added to the preference loss.'),
  kto_chosen_weight: z.number().positive().default(1).describe('kto: weight of the desirable answers\' loss.'),
  kto_rejected_weight: z.number().positive().default(1).describe('kto: weight of the undesirable answers\' loss.'),
  dpo_label_smoothing: z.number().min(0).max(0.5).default(0)
    .describe('dpo, pref_loss sigmoid: probability that a pair\'s preference is flipped (cDPO).'),
  simpo_gamma: z.number().default(0.5).describe('dpo, pref_loss simpo: the target reward margin gamma.'),
  ref_model: optionalString
    .describe('dpo, kto: folder of the reference model (unset: the base with LoRA disabled, or a frozen copy).'),
  ref_model_adapters: optionalList.describe('dpo, kto: comma list of LoRA adapters merged into ref_model.'),
});

export const trainingGroup = z.object({
  do_train: z.boolean().default(false).describe('Train (LLaMA-Factory configs set it; `retune train` requires it).'),
  output_dir: optionalString.describe('Folder receiving checkpoints, logs and the final weights.'),
  overwrite_output_dir: z.boolean().default(false)
    .describe('Start afresh in a non-empty output_dir instead of resuming from it.'),
  per_device_train_batch_size: positiveInt.default(1).describe('Samples per micro-batch.'),
  per_device_eval_batch_size: positiveInt.default(1).describe('Samples per evaluation batch.'),
  gradient_accumulation_steps: positiveInt.default(1).describe('Micro-batches per optimizer step.'),
  learning_rate: z.number().positive().default(5e-5).describe('Peak learning rate.'),
  num_train_epochs: z.number().positive().default(3)
    .describe('Epochs to train (fractions allowed); max_steps wins when > 0.'),
  max_steps: z.number().int().min(-1).default(-1)
    .describe('Total optimizer steps; -1 derives them from num_train_epochs.'),
  lr_scheduler_type: z.enum(['linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant', 'constant_with_warmup',
    'inverse_sqrt', 'cosine_with_min_lr', 'warmup_stable_decay']).default('linear').describe('LR schedule (HF names).'),
  lr_scheduler_kwargs: z.record(z.string(), z.unknown()).default({})
    .describe('Extra schedule arguments (num_cycles, min_lr_rate, ...).'),
  warmup_ratio: z.number().min(0).max(1).default(0).describe('Warmup as a fraction of total steps (ceil).'),
  // transformers 5 reads 0 < warmup_steps < 1 as a ratio; LLaMA-Factory's GaLore and BAdam examples write 0.1.
  warmup_steps: z.number().nonnegative().default(0)
    .refine((v) => v < 1 || Number.isInteger(v), 'must be a whole number of steps, or a fraction below 1 (a ratio)')
    .describe('Warmup steps, or below 1 a ratio of the total steps (transformers 5); overrides warmup_ratio when > 0.'),
  weight_decay: z.number().nonnegative().default(0).describe('AdamW decoupled weight decay (not on biases and norms).'),
  adam_beta1: z.number().min(0).lt(1).default(0.9).describe('AdamW beta1.'),
  adam_beta2: z.number().min(0).lt(1).default(0.999).describe('AdamW beta2.'),
  adam_epsilon: z.number().positive().default(1e-8).describe('AdamW epsilon.'),
  max_grad_norm: z.number().nonnegative().default(1.0)
    .describe('Clip the global gradient norm to this (0 = no clipping).'),
  optim: z.enum(['adamw_torch', 'adamw_hf', 'adamw_torch_fused', 'sgd']).default('adamw_torch')
    .describe('Optimizer; the adamw_* names are the same AdamW.'),
  seed: nonNegativeInt.default(42).describe('Seed of data order, LoRA init and dropout.'),
  max_bad_steps: nonNegativeInt.default(3)
    .describe('Consecutive steps with a non-finite loss or gradient skipped before the run stops.'),
  logging_steps: positiveInt.default(10).describe('Log every N optimizer steps.'),
  save_strategy: z.enum(['steps', 'epoch', 'no']).default('steps').describe('When checkpoints are saved.'),
  save_steps: positiveInt.default(500).describe('Save a checkpoint every N optimizer steps (save_strategy steps).'),
  save_total_limit: positiveInt.nullable().default(null)
    .describe('Keep at most this many checkpoints (oldest deleted first).'),
  save_only_model: z.boolean().default(false).describe('Checkpoints without optimizer state (cannot resume exactly).'),
  plot_loss: z.boolean().default(false).describe('Write training_loss.png/.svg at the end.'),
  eval_strategy: z.enum(['no', 'steps', 'epoch']).default('no').describe('When the eval split is evaluated.'),
  eval_steps: positiveInt.nullable().default(null).describe('Evaluate every N optimizer steps; unset: logging_steps.'),
  bf16: z.boolean().default(false).describe('Hold frozen weights as bf16 (trainable ones stay fp32).'),
  fp16: z.boolean().default(false).describe('GPU mixed precision; no effect on CPU.'),
  tf32: z.boolean().nullable().default(null).describe('GPU matmul precision; no effect on CPU.'),
  gradient_checkpointing: z.boolean().default(false)
    .describe('Recompute each layer in backward instead of keeping its activations: less memory, more time.'),
  deepspeed: optionalString.describe('Multi-GPU engine config; no effect here.'),
  ddp_timeout: positiveInt.default(180000000).describe('Multi-GPU timeout; no effect here.'),
  report_to: z.union([z.string(), z.array(z.string())]).default('none')
    .describe('Experiment trackers; no effect here (logs go to trainer_log.jsonl).'),
  dataloader_num_workers: nonNegativeInt.default(0).describe('Data loader processes; no effect here.'),
});

export const generatingGroup = z.object({
  do_sample: z.boolean().default(true).describe('Sample; false = greedy decoding.'),
  temperature: z.number().positive().default(0.95).describe('Sampling temperature.'),
  top_p: z.number().gt(0).max(1).default(0.7).describe('Nucleus sampling probability mass.'),
  top_k: nonNegativeInt.default(50).describe('Sample among the k most likely tokens (0 = all).'),
  max_new_tokens: positiveInt.default(1024).describe('Maximum tokens generated per reply.'),
  repetition_penalty: z.number().positive().default(1.0).describe('Penalty on tokens already present (1 = none).'),
  skip_special_tokens: z.boolean().default(true).describe('Hide special tokens in replies.'),
  default_system: optionalString.describe('System message used when none is given (overrides the template\'s).'),
});

export const exportGroup = z.object({
  export_dir: optionalString.describe('Folder receiving the merged model.'),
  export_size: positiveInt.default(5).describe('Maximum shard size in GB.'),
  export_legacy_format: z.boolean().default(false).describe('Accepted; Retune always writes safetensors.'),
});

export const resumeGroup = z.object({
  resume_from_checkpoint: optionalString
    .describe('Checkpoint folder to resume from; unset: the latest one in output_dir (unless overwrite_output_dir).'),
  resume_policy: z.enum(['config', 'checkpoint', 'strict']).default('config')
    .describe('On a changed config: the new config wins, the checkpoint\'s values win, or refuse to start.'),
  resume_lr_mode: z.enum(['absolute', 'rewarm', 'restart']).default('absolute')
    .describe('How a changed LR joins: new schedule at this step, ramp to it, or a fresh schedule over the rest.'),
  resume_warmup_steps: nonNegativeInt.default(0).describe('Steps of the rewarm ramp.'),
  reset_optimizer_state: z.boolean().default(false).describe('Drop the Adam moments on resume.'),
});

export const configGroups = {
  model: modelGroup,
  data: dataGroup,
  finetuning: finetuningGroup,
  training: trainingGroup,
  generating: generatingGroup,
  export: exportGroup,
  resume: resumeGroup,
} as const;

// The flat object of every key, before the defaults that depend on other keys are resolved.
export const configObject = z.object({
  ...modelGroup.shape,
  ...dataGroup.shape,
  ...finetuningGroup.shape,
  ...trainingGroup.shape,
  ...generatingGroup.shape,
  ...exportGroup.shape,
  ...resumeGroup.shape,
});

// Keys whose defaults follow other keys, resolved the way LLaMA-Factory and HF's TrainingArguments do.
export const configSchema = configObject.transform((c) => ({
  ...c,
  lora_alpha: c.lora_alpha ?? c.lora_rank * 2,
  eval_steps: c.eval_steps ?? c.logging_steps,
  packing: c.neat_packing || (c.packing ?? c.stage === 'pt'),
}));

export type RetuneConfig = z.output<typeof configSchema>;
export type ConfigKey = keyof RetuneConfig;

export const configKeys: ReadonlySet<string> = new Set(Object.keys(configObject.shape));

// Keys accepted so LLaMA-Factory configs run unchanged but meaning nothing on this CPU engine: the CLI names the
// ones a config sets, once. `bf16` is not here: it keeps frozen weights in bf16.
export const ineffectiveKeys: ReadonlySet<string> = new Set([
  'trust_remote_code', 'flash_attn', 'infer_backend', 'fp16', 'tf32',
  'deepspeed', 'ddp_timeout', 'report_to', 'dataloader_num_workers', 'export_legacy_format',
]);
