// The data layer's public surface (docs/ARCHITECTURE.md, "Data").

export { loadTokenizer, saveTokenizer, tokenizerFolder, Tokenizer } from './tokenizer.js';
export { addConfiguredTokens, type AddedVocab } from './vocab.js';
export { Template, type Message } from './template.js';
export { resolveTemplate } from './template-resolve.js';
export { prepareDataset, type PreparedData } from './prepare.js';
export type { DataStage } from './converter.js';
export { TokenizedDataset, type TokenizedRow } from './dataset-store.js';
export { Sampler } from './sampler.js';
export { collate, type Batch } from './collate.js';
