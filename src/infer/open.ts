// A model made ready for inference, the one way chat, the API server and the library load it: weights in the asked
// dtype, the config's new tokens added and the model grown as training grows it, adapters merged in order, the
// tokenizer, and the chat template resolved as training resolves it.
import type { RetuneConfig } from '../config/schema.js';
import { loadTokenizer, resolveTemplate, tokenizerFolder, type Template, type Tokenizer } from '../data/index.js';
import { mergeAdapterPaths } from '../model/adapters/index.js';
import { loadModel, type CausalLM, type SamplingOptions } from '../model/index.js';
import { UsageError } from '../util/errors.js';
import { splitList } from '../model/adapters/finetuning.js';
import { InferenceVocab, type InferVocabConfig } from './vocab.js';

export type InferDtype = RetuneConfig['infer_dtype'];

export interface OpenOptions {
  adapters?: string[]; // PEFT adapter folders, merged in this order
  dtype?: InferDtype; // bfloat16: weights held as bf16; auto and float32: float32
  template?: string | null; // template name; unset: the tokenizer's chat_template, else `empty`
  defaultSystem?: string | null;
  toolFormat?: string | null;
  enableThinking?: boolean | null;
  preserveThinking?: boolean; // reasoning templates: keep earlier answers' thoughts in the prompt
  vocab?: InferVocabConfig; // the config's new tokens, applied as training applies them (src/infer/vocab.ts)
}

export interface OpenedModel {
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
}

export async function openModel(dir: string, opts: OpenOptions = {}): Promise<OpenedModel> {
  const dtype = opts.dtype ?? 'auto';
  if (!['auto', 'bfloat16', 'float32'].includes(dtype)) {
    throw new UsageError(`dtype ${JSON.stringify(dtype)}: use auto, bfloat16 or float32 (float16 is not supported on the CPU)`);
  }
  const model = await loadModel(dir, { frozenBf16: dtype === 'bfloat16' });
  const adapters = opts.adapters ?? [];
  const tokenizerDir = tokenizerFolder(dir, adapters);
  const tokenizer = await loadTokenizer(tokenizerDir);
  const vocab = opts.vocab === undefined ? null : new InferenceVocab(tokenizer, opts.vocab, tokenizerDir === dir ? null : tokenizerDir);
  const template = resolveTemplate({
    template: opts.template ?? null, default_system: opts.defaultSystem ?? null, tool_format: opts.toolFormat ?? null,
    enable_thinking: opts.enableThinking ?? null, preserve_thinking: opts.preserveThinking ?? false,
    train_on_prompt: false,
  }, tokenizer);
  // As in training: the tokens (the template's EOS included) first, then the base model grows, then adapters merge.
  vocab?.grow(model);
  mergeAdapterPaths(model, adapters);
  return { model, tokenizer, template };
}

// The config keys of chat and api: model_name_or_path, adapter_name_or_path, infer_dtype, template and its options.
export function openFromConfig(config: RetuneConfig): Promise<OpenedModel> {
  if (config.model_name_or_path === null) throw new UsageError('model_name_or_path is required');
  return openModel(config.model_name_or_path, {
    adapters: splitList(config.adapter_name_or_path),
    dtype: config.infer_dtype,
    template: config.template,
    defaultSystem: config.default_system,
    toolFormat: config.tool_format,
    enableThinking: config.enable_thinking,
    preserveThinking: config.preserve_thinking,
    vocab: config,
  });
}

// The generating group of a config as sampling options (do_sample false: greedy).
export function samplingFromConfig(config: RetuneConfig): SamplingOptions {
  return {
    doSample: config.do_sample,
    temperature: config.temperature,
    topP: config.top_p,
    topK: config.top_k,
    repetitionPenalty: config.repetition_penalty,
    seed: config.seed,
  };
}
