// Retune as a library: `import { loadModel, train, chat, loadConfig } from 'retune'`. Everything here is what the
// CLI runs underneath; see README "Use as a library".
export { loadModel, chat, Model, type ChatOptions, type GeneratedToken, type GenerateTextOptions, type LoadModelOptions, type Logits } from './library/model.js';
export { train, type TrainMetrics, type TrainOptions } from './library/train.js';
export { loadConfig, type LoadedConfig } from './config/load.js';
export type { RetuneConfig } from './config/schema.js';
export type { Message, Template, Tokenizer } from './data/index.js';
export type { Completion } from './infer/engine.js';
export type { FinishReason } from './infer/scheduler.js';
export type { InferDtype } from './infer/open.js';
export type { ModelConfig, SamplingOptions } from './model/index.js';
export { RetuneError, UsageError } from './util/errors.js';
