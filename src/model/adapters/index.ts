// Fine-tuning methods and PEFT adapter files: what a run trains, and how adapters are saved, loaded and merged.
export { applyFinetuning, mergeAdapterPaths, type Finetuning, type FinetuningConfig } from './finetuning.js';
export { adaptersOf, type AdapterSet } from './adapter-set.js';
export { loadAdapter, mergeAdapters, saveAdapter, type LoadAdapterOptions } from './peft-io.js';
export { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readAdapterConfig, type LoraSpec } from './peft-config.js';
export type { RngState } from '../../tensor/random.js';
