// The model layer's public surface: loading, saving, the decoder and generation.
export { CausalLM, DecoderLayer, shiftLabels, type ForwardOptions, type LossOptions } from './causal-lm.js';
export { MODEL_TYPES, parseModelConfig, readModelConfig, type ModelConfig, type ModelType } from './config.js';
export { generate, modelStopIds, TokenPicker, type GenerateOptions, type SamplingOptions } from './generate.js';
export { KVCache, type DecodeCache } from './kv-cache.js';
export { SequenceBatch } from './sequence-batch.js';
export { buildModel, GENERATION_CONFIG_NAME, INDEX_NAME, loadModel, readIndex, WEIGHTS_NAME, type LoadOptions } from './load.js';
export { saveModel, type SaveOptions } from './save.js';
export {
  readSafetensors, readSafetensorsHeader, writeSafetensors, type Dtype, type FloatDtype, type StoredTensor, type TensorToWrite,
} from './safetensors.js';
