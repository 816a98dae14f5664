// The data layer's public surface (docs/ARCHITECTURE.md, "Data").

export { loadTokenizer, Tokenizer, type ChatMessage, type ChatTemplateOptions } from './tokenizer.js';
export { getTemplate, templateNames, Template, type Message, type Role, type EncodedPair } from './template.js';
export { resolveTemplate, parseTemplate } from './template-resolve.js';
export { prepareDataset, type DataArgs, type PreparedData } from './prepare.js';
export { TokenizedDataset, type TokenizedRow } from './dataset-store.js';
export { Sampler, type SamplerState } from './sampler.js';
export { collate, type Batch, type CollateOptions } from './collate.js';
export { IGNORE_INDEX, inferSeqlen } from './processors.js';
export type { DataStage } from './converter.js';
