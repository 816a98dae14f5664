// The model layer's public surface: loading, saving, the decoder and generation.
export { CausalLM } from './causal-lm.js';
export { readModelConfig, type ModelConfig } from './config.js';
export { modelStopIds, TokenPicker, type SamplingOptions } from './generate.js';
export { KVCache } from './kv-cache.js';
export { INDEX_NAME, loadModel, readIndex, WEIGHTS_NAME } from './load.js';
export { saveModel } from './save.js';
export { SequenceBatch } from './sequence-batch.js';
