// The model layer's public surface: loading, saving, the decoder and generation.
export { CausalLM } from './causal-lm.js';
export { readModelConfig } from './config.js';
export { generate } from './generate.js';
export { INDEX_NAME, loadModel, readIndex, WEIGHTS_NAME } from './load.js';
export { saveModel } from './save.js';
