export { Linear, type LinearAdapter } from './linear.js';
export { Embedding } from './embedding.js';
export { RMSNorm } from './rmsnorm.js';
export { Attention, type LayerKVCache } from './attention.js';
export { MLP } from './mlp.js';
