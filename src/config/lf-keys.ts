// LLaMA-Factory keys that have no place in Retune's schema. A LLaMA-Factory example config should run here once its
// paths point at local files, so these keys are known rather than reported as unknown:
//   - a feature Retune does not have yet stops the run when the config turns it on, because training without it
//     would silently be a different experiment;
//   - a key that only steers GPUs, a cluster, or a feature that is off has no effect here; a config that moves it
//     away from LLaMA-Factory's default gets it named once, like the schema's own ineffective keys.
// Defaults are LLaMA-Factory's (hparams/*_args.py), so `pref_beta: 0.1` in an SFT config asks for nothing.

// Switch key -> the feature it turns on, and what to do instead when removing the key is not the whole answer.
// Off is false or null, LLaMA-Factory's default for every one of them.
const features: Record<string, { what: string; instead?: string }> = {
  use_galore: { what: 'the GaLore optimizer' },
  use_apollo: { what: 'the APOLLO optimizer' },
  use_badam: { what: 'the BAdam optimizer' },
  use_adam_mini: { what: 'the Adam-mini optimizer' },
  use_muon: { what: 'the Muon optimizer' },
  use_dft_loss: { what: 'the DFT loss' },
  loraplus_lr_ratio: { what: 'LoRA+ (a larger learning rate for lora_B)' },
  use_llama_pro: { what: 'LLaMA Pro block expansion' },
  mixture_of_depths: { what: 'mixture-of-depths' },
  rope_scaling: { what: 'rope_scaling in the training config', instead: 'set rope_scaling in the model\'s config.json' },
  neftune_noise_alpha: { what: 'NEFTune embedding noise' },
  do_predict: { what: 'batch prediction', instead: 'retune chat answers prompts one at a time' },
  pref_bco_weight: { what: 'the BCO term of DPO' },
};

// Keys with no effect here, with LLaMA-Factory's default. Grouped by why they do nothing.
const inert: Record<string, unknown> = {
  // Sub-options of the features above: they only matter once their switch is on, which stops the run.
  galore_target: 'all', galore_rank: 16, galore_update_interval: 200, galore_scale: 2.0, galore_proj_type: 'std',
  galore_layerwise: false,
  apollo_target: 'all', apollo_rank: 16, apollo_update_interval: 200, apollo_scale: 32.0, apollo_proj: 'random',
  apollo_proj_type: 'std', apollo_scale_type: 'channel', apollo_layerwise: false, apollo_scale_front: false,
  badam_mode: 'layer', badam_start_block: null, badam_switch_mode: 'ascending', badam_switch_interval: 50,
  badam_update_ratio: 0.05, badam_mask_mode: 'adjacent', badam_verbose: 0,
  loraplus_lr_embedding: 1e-6,
  pissa_iter: 16, pissa_convert: false,
  predict_with_generate: false,
  // PPO's reward model: `stage` refuses ppo, so these tune nothing.
  reward_model: null, reward_model_type: 'lora',
  // GPU precision and kernels: Retune trains fp32 weights on the CPU.
  pure_bf16: false, enable_liger_kernel: false, use_unsloth: false, upcast_layernorm: false,
  upcast_lmhead_output: false,
  // Export runs on the CPU whatever the device asked for.
  export_device: 'cpu',
  // Ray clusters (LLaMA-Factory reads these only with USE_RAY=1).
  ray_run_name: null, ray_storage_path: './saves', ray_storage_filesystem: null, ray_num_workers: 1,
  resources_per_worker: { GPU: 1 }, placement_strategy: 'PACK', ray_init_kwargs: null,
};

// Names transformers has since renamed, still found in older LLaMA-Factory examples (GaLore, BAdam): the unknown-key
// warning points at the new name, which edit distance alone would not find.
const renamed: Record<string, string> = {
  evaluation_strategy: 'eval_strategy',
};

export function renamedKey(key: string): string | null {
  return Object.hasOwn(renamed, key) ? renamed[key] : null;
}

export function isLfOnlyKey(key: string): boolean {
  return Object.hasOwn(features, key) || Object.hasOwn(inert, key);
}

// Each feature a config turns on, as `key: why` for the error that stops the run.
export function refusedFeatures(raw: Record<string, unknown>): { key: string; message: string }[] {
  return Object.keys(raw)
    .filter((key) => Object.hasOwn(features, key) && raw[key] !== null && raw[key] !== false)
    .map((key) => {
      const { what, instead } = features[key];
      return { key, message: `${key}: ${what} is not supported yet; ${instead ?? `remove ${key} to run without it`}` };
    });
}

// Inert keys set away from LLaMA-Factory's default, in the order given.
export function inertKeysSet(raw: Record<string, unknown>): string[] {
  const moved = (key: string): boolean => JSON.stringify(raw[key]) !== JSON.stringify(inert[key]);
  return Object.keys(raw).filter((key) => Object.hasOwn(inert, key) && moved(key));
}
