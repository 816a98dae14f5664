// Every configuration key Retune knows, each declared once with all its facts: the zod schema gives its type, default
// and range; `key()` adds the one-line description, how a change of it joins a resume (the resume plan reads it), and
// what LLaMA-Factory's key of that name gets here. Groups are the sections `retune <command> --help` prints and
// training_args.yaml keeps; the config itself is flat. `src/config/keys.ts` turns these declarations into the
// JSON description that --help, the web UI form and the LLaMA-Factory checks read.
import { z } from 'zod';

// How a change of the key between a checkpoint and the new config joins a resume (src/train/resume-plan.ts):
//   structural  the trained tensors change shape or meaning: the resume is refused;
//   schedule    the LR schedule is rejoined (resume_lr_mode);
//   optimizer   applies from the next step, the moments are kept unless the optimizer changes;
//   batch       the effective batch changes, the data cursor (counted in samples) stays;
//   data        the tokenized rows may change: a new fingerprint restarts the epoch order;
//   seed        a new epoch order;
//   numerics    changes what each step computes from the next step on, nothing else to rejoin;
//   objective   the loss the weights follow changes (preference loss, reference model): the weights continue;
//   bookkeeping where and how often things are written, how the resume itself is done: free under every policy;
//   no-effect   nothing this training run computes or writes depends on it: free under every policy.
export type ResumeClass =
  | 'structural' | 'schedule' | 'optimizer' | 'batch' | 'data' | 'seed' | 'numerics' | 'objective' | 'bookkeeping'
  | 'no-effect';

// What LLaMA-Factory's key of this name gets: `accepted` means the same meaning; `ignored` is accepted with a notice
// when set away from its default, because it only steers GPUs, clusters or a feature that is off; `refused` stops the
// run when switched on (not null/false/0), because training without it would silently be a different experiment;
// `retune` is Retune's own key.
export type LfStatus = 'accepted' | 'ignored' | 'refused' | 'retune';

export interface KeyFacts {
  description: string; // one line
  resume: ResumeClass;
  lf: LfStatus;
  feature?: string; // refused: the feature the key turns on
  instead?: string; // refused: what to do instead (default: remove the key)
  formerly?: string; // the key's older transformers name, suggested for it when a config uses that name
}

export const keyFacts = z.registry<KeyFacts>();

// A copy, so keys built from one shared schema (optionalString) each keep their own facts.
function key<T extends z.ZodType>(schema: T, facts: KeyFacts): T {
  const declared = schema.clone() as T;
  keyFacts.add(declared, facts);
  return declared;
}

// A LLaMA-Factory key with the same meaning here.
function lf<T extends z.ZodType>(schema: T, resume: ResumeClass, description: string, formerly?: string): T {
  return key(schema, { description, resume, lf: 'accepted', ...(formerly === undefined ? {} : { formerly }) });
}

// A key only Retune has.
function own<T extends z.ZodType>(schema: T, resume: ResumeClass, description: string): T {
  return key(schema, { description, resume, lf: 'retune' });
}

// A LLaMA-Factory key accepted so its configs run unchanged, with no effect on this engine.
function ignored<T extends z.ZodType>(schema: T, description: string): T {
  return key(schema, { description, resume: 'no-effect', lf: 'ignored' });
}

// A LLaMA-Factory switch for a feature Retune does not have: off (null, false or 0) it is accepted, on it stops the run.
function refused<T extends z.ZodType>(schema: T, what: string, instead?: string): T {
  const facts: KeyFacts = {
    description: `Turns on ${what}: not supported yet.`, resume: 'no-effect', lf: 'refused', feature: what,
  };
  return key(schema, instead === undefined ? facts : { ...facts, instead });
}

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
  model_name_or_path: lf(optionalString, 'structural', 'Folder of the base model (HF layout: config.json + safetensors).'),
  adapter_name_or_path: lf(optionalList, 'structural', 'Comma list of LoRA adapter folders (PEFT layout) to load, in order.'),
  train_from_scratch: lf(z.boolean().default(false), 'structural',
    'Initialise the weights randomly from config.json instead of loading them.'),
  trust_remote_code: ignored(z.boolean().default(false), 'Accepted for LLaMA-Factory configs; Retune runs no model code.'),
  flash_attn: ignored(z.enum(['auto', 'disabled', 'sdpa', 'fa2']).default('auto'), 'GPU attention kernel; no effect on CPU.'),
  infer_backend: ignored(z.string().default('huggingface'),
    'Accepted for LLaMA-Factory configs; chat always uses Retune\'s engine.'),
  infer_dtype: lf(z.enum(['auto', 'float16', 'bfloat16', 'float32']).default('auto')
    .refine((v) => v !== 'float16', 'float16 is not supported on the CPU; use bfloat16 or float32'), 'no-effect',
    'Weights of chat and api: bfloat16 holds them as bf16 (half the memory, faster decode); auto = float32.'),
  resize_vocab: lf(z.boolean().default(false), 'structural',
    'Grow the embeddings and LM head to the tokenizer (to a multiple of 64); turned on when tokens are added.'),
  add_tokens: lf(optionalList, 'structural', 'Comma list of normal tokens added to the tokenizer (implies resize_vocab).'),
  add_special_tokens: lf(optionalList, 'structural',
    'Comma list of special tokens added to the tokenizer (implies resize_vocab).'),
  new_special_tokens_config: lf(optionalString, 'structural',
    'YAML file mapping each new special token to a description; takes the place of add_special_tokens.'),
  init_special_tokens: lf(z.enum(['noise_init', 'desc_init', 'desc_init_w_noise']).default('noise_init'), 'structural',
    'New embedding rows: mean of the others plus noise, or the mean of their description\'s tokens (+ noise).'),
  threads: own(nonNegativeInt.default(0), 'bookkeeping',
    'Compute threads of the native backend (0 = RETUNE_THREADS or all cores; set, it wins over both).'),
});

export const dataGroup = z.object({
  template: lf(optionalString, 'data',
    'Chat template name (LLaMA-Factory registry: default, alpaca, chatml, llama3, qwen, ...).'),
  dataset: lf(optionalList, 'data', 'Comma list of dataset names from dataset_dir/dataset_info.json used for training.'),
  eval_dataset: lf(optionalList, 'bookkeeping', 'Comma list of dataset names used for evaluation.'),
  dataset_dir: lf(z.string().default('data'), 'data', 'Folder holding dataset_info.json and the data files.'),
  cutoff_len: lf(positiveInt.default(2048), 'data', 'Maximum tokens of one training row after tokenization.'),
  max_samples: lf(positiveInt.nullable().default(null), 'data', 'Keep at most this many samples of each dataset.'),
  val_size: lf(z.number().nonnegative().default(0), 'data',
    'Eval split held out from the training data: fraction (<1) or count.'),
  mix_strategy: lf(z.enum(['concat', 'interleave_under', 'interleave_over']).default('concat'), 'data',
    'How several datasets are mixed.'),
  interleave_probs: lf(optionalList, 'data', 'Comma list of sampling probabilities for interleave_* mixing.'),
  train_on_prompt: lf(z.boolean().default(false), 'data', 'Also compute the loss on prompt tokens.'),
  mask_history: lf(z.boolean().default(false), 'data', 'Compute the loss on the last turn only.'),
  packing: lf(z.boolean().nullable().default(null), 'data',
    'Pack several samples into rows of cutoff_len - 1 tokens (attention never crosses samples); unset: pt packs ' +
    'into cutoff_len, sft does not pack.'),
  neat_packing: lf(z.boolean().default(false), 'data',
    'Same as packing: true (Retune\'s packing never attends across samples).'),
  preprocessing_batch_size: lf(positiveInt.default(1000), 'data',
    'Rows per preprocessing batch: rows without an answer are dropped, KTO pairs, pt blocks and sft packing formed ' +
    'within a batch.'),
  streaming: refused(z.boolean().default(false), 'streaming datasets',
    'remove streaming: true; Retune reads and tokenizes the dataset up front (max_samples limits how much is used)'),
  tool_format: lf(optionalString, 'data',
    'Function-calling format of the template (default, glm4, llama3, mistral, qwen).'),
  enable_thinking: lf(z.boolean().nullable().default(true), 'data',
    'Reasoning templates: keep the model\'s thoughts (false: empty thought in the prompt).'),
  preserve_thinking: lf(z.boolean().default(false), 'data',
    'Reasoning templates: keep the thoughts of earlier answers (dropped from prompts and under mask_history).'),
  tokenized_path: lf(optionalString, 'bookkeeping',
    'Folder caching tokenized datasets, keyed by a fingerprint of the inputs.'),
  overwrite_cache: lf(z.boolean().default(false), 'bookkeeping',
    'Tokenize again even when tokenized_path holds a matching cache.'),
  preprocessing_num_workers: lf(nonNegativeInt.nullable().default(null), 'data',
    'Contiguous shards the rows are cut into before batching, as LLaMA-Factory\'s worker processes (unset: one); ' +
    'also the most tokenization threads (unset: one per core for large datasets), which never change the rows.'),
});

// LLaMA-Factory's stages that Retune trains; the others are known but refused.
export const TRAINING_STAGES: readonly string[] = ['pt', 'sft', 'rm', 'dpo', 'kto'];

export const finetuningGroup = z.object({
  stage: lf(z.enum(['pt', 'sft', 'rm', 'ppo', 'dpo', 'kto']).default('sft')
    .refine((v) => TRAINING_STAGES.includes(v), {
      error: (issue) => `${String(issue.input)} is not supported yet (stages that train: ${TRAINING_STAGES.join(', ')})`,
    }), 'structural', 'Training stage: pt (pre-training), sft (supervised fine-tuning), rm (reward model), dpo or kto.'),
  finetuning_type: lf(z.enum(['lora', 'freeze', 'full']).default('lora'), 'structural',
    'What is trained: LoRA adapters, the last layers, or all weights.'),
  lora_rank: lf(positiveInt.default(8), 'structural', 'LoRA rank r.'),
  lora_alpha: lf(z.number().positive().nullable().default(null), 'structural',
    'LoRA scaling numerator (scale alpha/r); unset: 2 * lora_rank.'),
  lora_dropout: lf(z.number().min(0).max(1).default(0), 'numerics', 'Dropout on the LoRA input.'),
  lora_target: lf(commaList.default('all'), 'structural',
    'Comma list of Linear module names that get LoRA; all = every Linear except lm_head.'),
  additional_target: lf(optionalList, 'structural',
    'Comma list of modules trained in full next to LoRA (PEFT modules_to_save; tied embeddings train as two copies).'),
  use_rslora: lf(z.boolean().default(false), 'structural', 'Rank-stabilised LoRA: scale alpha/sqrt(r).'),
  use_dora: lf(z.boolean().default(false), 'structural', 'Weight-decomposed LoRA (DoRA) magnitude vector.'),
  create_new_adapter: lf(z.boolean().default(false), 'structural',
    'Train a fresh adapter on top of the loaded adapter_name_or_path ones.'),
  freeze_trainable_layers: lf(z.number().int().refine((v) => v !== 0, 'must not be 0').default(2), 'structural',
    'freeze: train the last N layers (negative: the first -N).'),
  freeze_trainable_modules: lf(commaList.default('all'), 'structural',
    'freeze: comma list of module names trained inside those layers.'),
  freeze_extra_modules: lf(optionalList, 'structural',
    'freeze: comma list of modules outside the layers also trained (e.g. embed_tokens).'),
  pref_loss: lf(z.enum(['sigmoid', 'hinge', 'ipo', 'orpo', 'simpo']).default('sigmoid'), 'objective',
    'dpo: the preference loss (sigmoid is DPO; orpo and simpo use no reference model).'),
  pref_beta: lf(z.number().positive().default(0.1), 'numerics', 'dpo, kto: beta, the strength of the preference term.'),
  pref_ftx: lf(z.number().nonnegative().default(0), 'numerics',
    'dpo, kto: weight of the SFT loss (chosen answer, per token) added to the preference loss.'),
  dpo_label_smoothing: lf(z.number().min(0).max(0.5).default(0), 'numerics',
    'dpo, pref_loss sigmoid: probability that a pair\'s preference is flipped (cDPO).'),
  simpo_gamma: lf(z.number().default(0.5), 'numerics', 'dpo, pref_loss simpo: the target reward margin gamma.'),
  kto_chosen_weight: lf(z.number().positive().default(1), 'numerics', 'kto: weight of the desirable answers\' loss.'),
  kto_rejected_weight: lf(z.number().positive().default(1), 'numerics', 'kto: weight of the undesirable answers\' loss.'),
  ref_model: lf(optionalString, 'objective',
    'dpo, kto: folder of the reference model (unset: the base with LoRA disabled, or a frozen copy).'),
  ref_model_adapters: lf(optionalList, 'objective', 'dpo, kto: comma list of LoRA adapters merged into ref_model.'),
});

export const trainingGroup = z.object({
  do_train: lf(z.boolean().default(false), 'bookkeeping',
    'Train (LLaMA-Factory configs set it; without it `retune train` needs do_eval or do_predict).'),
  do_eval: lf(z.boolean().default(false), 'no-effect',
    'eval_loss and perplexity on the eval split (after training, on its weights), written to eval_results.json; ' +
    'with predict_with_generate, BLEU-4 and ROUGE of generated replies instead.'),
  do_predict: lf(z.boolean().default(false), 'no-effect',
    'A reply to every eval_dataset prompt (after training, by its weights), scored by BLEU-4 and ROUGE (predict_results.json).'),
  predict_with_generate: lf(z.boolean().default(false), 'no-effect',
    'Generate the replies of do_predict (required by it, as in LLaMA-Factory); do_eval then scores generated replies too.'),
  output_dir: lf(optionalString, 'bookkeeping', 'Folder receiving checkpoints, logs and the final weights.'),
  overwrite_output_dir: lf(z.boolean().default(false), 'bookkeeping',
    'Start afresh in a non-empty output_dir instead of resuming from it.'),
  per_device_train_batch_size: lf(positiveInt.default(1), 'batch', 'Samples per micro-batch.'),
  per_device_eval_batch_size: lf(positiveInt.default(1), 'bookkeeping', 'Samples per evaluation batch.'),
  gradient_accumulation_steps: lf(positiveInt.default(1), 'batch', 'Micro-batches per optimizer step.'),
  learning_rate: lf(z.number().positive().default(5e-5), 'schedule', 'Peak learning rate.'),
  num_train_epochs: lf(z.number().positive().default(3), 'schedule',
    'Epochs to train (fractions allowed); max_steps wins when > 0.'),
  max_steps: lf(z.number().int().min(-1).default(-1), 'schedule',
    'Total optimizer steps; -1 derives them from num_train_epochs.'),
  lr_scheduler_type: lf(z.enum(['linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant',
    'constant_with_warmup', 'inverse_sqrt', 'cosine_with_min_lr', 'warmup_stable_decay']).default('linear'), 'schedule',
  'LR schedule (HF names).'),
  lr_scheduler_kwargs: lf(z.record(z.string(), z.unknown()).default({}), 'schedule',
    'Extra schedule arguments (num_cycles, min_lr_rate, ...).'),
  warmup_ratio: lf(z.number().min(0).max(1).default(0), 'schedule', 'Warmup as a fraction of total steps (ceil).'),
  // transformers 5 reads 0 < warmup_steps < 1 as a ratio; LLaMA-Factory's GaLore and BAdam examples write 0.1.
  warmup_steps: lf(z.number().nonnegative().default(0)
    .refine((v) => v < 1 || Number.isInteger(v), 'must be a whole number of steps, or a fraction below 1 (a ratio)'),
  'schedule', 'Warmup steps, or below 1 a ratio of the total steps (transformers 5); overrides warmup_ratio when > 0.'),
  weight_decay: lf(z.number().nonnegative().default(0), 'optimizer',
    'AdamW decoupled weight decay (not on biases and norms).'),
  adam_beta1: lf(z.number().min(0).lt(1).default(0.9), 'optimizer', 'AdamW beta1.'),
  adam_beta2: lf(z.number().min(0).lt(1).default(0.999), 'optimizer', 'AdamW beta2.'),
  adam_epsilon: lf(z.number().positive().default(1e-8), 'optimizer', 'AdamW epsilon.'),
  max_grad_norm: lf(z.number().nonnegative().default(1.0), 'optimizer',
    'Clip the global gradient norm to this (0 = no clipping).'),
  optim: lf(z.enum(['adamw_torch', 'adamw_hf', 'adamw_torch_fused', 'sgd']).default('adamw_torch'), 'optimizer',
    'Optimizer; the adamw_* names are the same AdamW.'),
  seed: lf(nonNegativeInt.default(42), 'seed', 'Seed of data order, LoRA init and dropout.'),
  max_bad_steps: own(nonNegativeInt.default(3), 'bookkeeping',
    'Consecutive steps with a non-finite loss or gradient skipped before the run stops.'),
  logging_steps: lf(positiveInt.default(10), 'bookkeeping', 'Log every N optimizer steps.'),
  save_strategy: lf(z.enum(['steps', 'epoch', 'no']).default('steps'), 'bookkeeping', 'When checkpoints are saved.'),
  save_steps: lf(positiveInt.default(500), 'bookkeeping',
    'Save a checkpoint every N optimizer steps (save_strategy steps).'),
  save_total_limit: lf(positiveInt.nullable().default(null), 'bookkeeping',
    'Keep at most this many checkpoints (oldest deleted first).'),
  save_only_model: lf(z.boolean().default(false), 'bookkeeping',
    'Checkpoints without optimizer state (cannot resume exactly).'),
  plot_loss: lf(z.boolean().default(false), 'bookkeeping', 'Write training_loss.png/.svg at the end.'),
  eval_strategy: lf(z.enum(['no', 'steps', 'epoch']).default('no'), 'bookkeeping', 'When the eval split is evaluated.',
    'evaluation_strategy'),
  eval_steps: lf(positiveInt.nullable().default(null), 'bookkeeping',
    'Evaluate every N optimizer steps; unset: logging_steps.'),
  bf16: lf(z.boolean().default(false), 'numerics',
    'bf16 mixed precision: frozen weights held as bf16, trained ones kept float32 with their products run on bf16 copies.'),
  fp16: ignored(z.boolean().default(false), 'GPU mixed precision; no effect on CPU.'),
  tf32: ignored(z.boolean().nullable().default(null), 'GPU matmul precision; no effect on CPU.'),
  gradient_checkpointing: lf(z.boolean().default(false), 'bookkeeping',
    'Recompute each layer in backward instead of keeping its activations: less memory, more time.'),
  deepspeed: ignored(optionalString, 'Multi-GPU engine config; no effect here.'),
  ddp_timeout: ignored(positiveInt.default(180000000), 'Multi-GPU timeout; no effect here.'),
  report_to: ignored(commaList.default('none'), 'Experiment trackers; no effect here (logs go to trainer_log.jsonl).'),
  dataloader_num_workers: ignored(nonNegativeInt.default(0), 'Data loader processes; no effect here.'),
});

// Used by `retune chat`; a training run computes nothing from them.
export const generatingGroup = z.object({
  do_sample: lf(z.boolean().default(true), 'no-effect', 'Sample; false = greedy decoding.'),
  temperature: lf(z.number().positive().default(0.95), 'no-effect', 'Sampling temperature.'),
  top_p: lf(z.number().gt(0).max(1).default(0.7), 'no-effect', 'Nucleus sampling probability mass.'),
  top_k: lf(nonNegativeInt.default(50), 'no-effect', 'Sample among the k most likely tokens (0 = all).'),
  max_new_tokens: lf(positiveInt.default(1024), 'no-effect', 'Maximum tokens generated per reply.'),
  repetition_penalty: lf(z.number().positive().default(1.0), 'no-effect',
    'Penalty on tokens already present (1 = none).'),
  skip_special_tokens: lf(z.boolean().default(true), 'no-effect', 'Hide special tokens in replies.'),
  default_system: lf(optionalString, 'data', 'System message used when none is given (overrides the template\'s).'),
});

export const exportGroup = z.object({
  export_dir: lf(optionalString, 'no-effect', 'Folder receiving the merged model.'),
  export_size: lf(positiveInt.default(5), 'no-effect', 'Maximum shard size in GB.'),
  export_legacy_format: ignored(z.boolean().default(false), 'Accepted; Retune always writes safetensors.'),
});

export const resumeGroup = z.object({
  resume_from_checkpoint: lf(optionalString, 'bookkeeping',
    'Checkpoint folder to resume from; unset: the latest one in output_dir (unless overwrite_output_dir).'),
  resume_policy: own(z.enum(['config', 'checkpoint', 'strict']).default('config'), 'bookkeeping',
    'On a changed config: the new config wins, the checkpoint\'s values win, or refuse to start.'),
  resume_lr_mode: own(z.enum(['absolute', 'rewarm', 'restart']).default('absolute'), 'bookkeeping',
    'How a changed LR joins: new schedule at this step, ramp to it, or a fresh schedule over the rest.'),
  resume_warmup_steps: own(nonNegativeInt.default(0), 'bookkeeping', 'Steps of the rewarm ramp.'),
  reset_optimizer_state: own(z.boolean().default(false), 'bookkeeping', 'Drop the Adam moments on resume.'),
});

// LLaMA-Factory keys outside Retune's config: known, so its example configs run here once their paths point at local
// files, but never part of RetuneConfig. Defaults are LLaMA-Factory's (hparams/*_args.py), so `pref_beta: 0.1` in an
// SFT config asks for nothing; moved away from them, an ignored key is named once.
const subOption = (feature: string, switchKey: string) => <T extends z.ZodType>(schema: T): T =>
  ignored(schema, `${feature} option; no effect (${switchKey} is not supported).`);
const galore = subOption('GaLore', 'use_galore');
const apollo = subOption('APOLLO', 'use_apollo');
const badam = subOption('BAdam', 'use_badam');
const pissa = subOption('PiSSA', 'pissa_init');
// PPO's reward model: `stage` refuses ppo, so these tune nothing.
const ppo = <T extends z.ZodType>(schema: T): T => ignored(schema, 'PPO option; no effect (stage ppo is not supported).');
// Ray clusters (LLaMA-Factory reads these only with USE_RAY=1).
const ray = <T extends z.ZodType>(schema: T): T => ignored(schema, 'Ray cluster option; no effect here.');
const optionalNumber = z.number().nullable().default(null);
const optionalRecord = z.record(z.string(), z.unknown()).nullable().default(null);

export const llamaFactoryGroup = z.object({
  quantization_bit: refused(z.number().int().nullable().default(null), 'quantization'),
  pissa_init: refused(z.boolean().default(false), 'PiSSA initialisation'),
  use_galore: refused(z.boolean().default(false), 'the GaLore optimizer'),
  use_apollo: refused(z.boolean().default(false), 'the APOLLO optimizer'),
  use_badam: refused(z.boolean().default(false), 'the BAdam optimizer'),
  use_adam_mini: refused(z.boolean().default(false), 'the Adam-mini optimizer'),
  use_muon: refused(z.boolean().default(false), 'the Muon optimizer'),
  use_dft_loss: refused(z.boolean().default(false), 'the DFT loss'),
  loraplus_lr_ratio: refused(optionalNumber, 'LoRA+ (a larger learning rate for lora_B)'),
  use_llama_pro: refused(z.boolean().default(false), 'LLaMA Pro block expansion'),
  mixture_of_depths: refused(optionalString, 'mixture-of-depths'),
  rope_scaling: refused(z.union([z.string(), z.record(z.string(), z.unknown())]).nullable().default(null),
    'rope_scaling in the training config', 'set rope_scaling in the model\'s config.json'),
  neftune_noise_alpha: refused(optionalNumber, 'NEFTune embedding noise'),
  pref_bco_weight: refused(z.number().default(0), 'the BCO term of DPO'),

  galore_target: galore(commaList.default('all')),
  galore_rank: galore(z.number().int().default(16)),
  galore_update_interval: galore(z.number().int().default(200)),
  galore_scale: galore(z.number().default(2.0)),
  galore_proj_type: galore(z.string().default('std')),
  galore_layerwise: galore(z.boolean().default(false)),
  apollo_target: apollo(commaList.default('all')),
  apollo_rank: apollo(z.number().int().default(16)),
  apollo_update_interval: apollo(z.number().int().default(200)),
  apollo_scale: apollo(z.number().default(32.0)),
  apollo_proj: apollo(z.string().default('random')),
  apollo_proj_type: apollo(z.string().default('std')),
  apollo_scale_type: apollo(z.string().default('channel')),
  apollo_layerwise: apollo(z.boolean().default(false)),
  apollo_scale_front: apollo(z.boolean().default(false)),
  badam_mode: badam(z.string().default('layer')),
  badam_start_block: badam(z.number().int().nullable().default(null)),
  badam_switch_mode: badam(z.string().default('ascending')),
  badam_switch_interval: badam(z.number().int().default(50)),
  badam_update_ratio: badam(z.number().default(0.05)),
  badam_mask_mode: badam(z.string().default('adjacent')),
  badam_verbose: badam(z.number().int().default(0)),
  loraplus_lr_embedding: subOption('LoRA+', 'loraplus_lr_ratio')(z.number().default(1e-6)),
  pissa_iter: pissa(z.number().int().default(16)),
  pissa_convert: pissa(z.boolean().default(false)),
  reward_model: ppo(optionalString),
  reward_model_type: ppo(z.string().default('lora')),
  pure_bf16: ignored(z.boolean().default(false), 'GPU pure bf16 training; Retune keeps float32 masters (bf16: true is mixed precision).'),
  enable_liger_kernel: ignored(z.boolean().default(false), 'GPU Liger kernels; no effect on CPU.'),
  use_unsloth: ignored(z.boolean().default(false), 'GPU Unsloth kernels; no effect on CPU.'),
  upcast_layernorm: ignored(z.boolean().default(false), 'GPU half-precision fix; Retune computes norms in fp32.'),
  upcast_lmhead_output: ignored(z.boolean().default(false), 'GPU half-precision fix; Retune computes logits in fp32.'),
  export_device: ignored(z.string().default('cpu'), 'Device of the export; Retune exports on the CPU.'),
  ray_run_name: ray(optionalString),
  ray_storage_path: ray(z.string().default('./saves')),
  ray_storage_filesystem: ray(optionalString),
  ray_num_workers: ray(z.number().int().default(1)),
  resources_per_worker: ray(z.record(z.string(), z.unknown()).default({ GPU: 1 })),
  placement_strategy: ray(z.string().default('PACK')),
  ray_init_kwargs: ray(optionalRecord),
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
}));

export type RetuneConfig = z.output<typeof configSchema>;
export type ConfigKey = keyof RetuneConfig;
