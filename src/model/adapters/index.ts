// Fine-tuning methods and PEFT adapter files: what a run trains, and how adapters are saved, loaded and merged.
export { applyFinetuning, mergeAdapterPaths, trainedProductWeights, type Finetuning } from './finetuning.js';
export { loadAdapter, mergeAdapters, saveAdapter } from './peft-io.js';
