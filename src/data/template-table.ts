// LLaMA-Factory's chat templates as data: one row per template name, with its exact slots. A slot list mixes text
// (with {{content}} / {{idx}} placeholders), the tokenizer's BOS/EOS, and single tokens looked up by name. Each text
// slot is tokenised on its own, as LLaMA-Factory does, so the split into slots matters for the token ids.
// Unset fields take LLaMA-Factory's register_template defaults (applied in template.ts).

export type Slot = string | { special: 'bos' | 'eos' } | { token: string };
export type TemplateKind = 'plain' | 'llama2' | 'reasoning';

export interface TemplateSpec {
  user?: Slot[];
  assistant?: Slot[];
  system?: Slot[];
  function?: Slot[];
  observation?: Slot[];
  prefix?: Slot[];
  toolFormat?: string; // used for both the tool list and function calls
  defaultSystem?: string;
  stopWords?: string[];
  thoughtWords?: [string, string];
  efficientEos?: boolean;
  replaceEos?: boolean;
  kind?: TemplateKind; // llama2: the system text is fused into the first user turn; reasoning: <think> handling
}

const BOS: Slot = { special: 'bos' };
const EOS: Slot = { special: 'eos' };

const CHATML_USER = '<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n';
const CHATML_ASSISTANT = '{{content}}<|im_end|>\n';
const CHATML_SYSTEM = '<|im_start|>system\n{{content}}<|im_end|>\n';
const QWEN_OBSERVATION = '<|im_start|>user\n<tool_response>\n{{content}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n';
const LLAMA3_USER = '<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
const VICUNA_SYSTEM =
  'A chat between a curious user and an artificial intelligence assistant. ' +
  "The assistant gives helpful, detailed, and polite answers to the user's questions.";

// The Qwen family shares every slot; only the default system, the class and thinking differ.
const qwenSlots: TemplateSpec = {
  user: [CHATML_USER],
  assistant: [CHATML_ASSISTANT],
  system: [CHATML_SYSTEM],
  function: ['{{content}}<|im_end|>\n'],
  observation: [QWEN_OBSERVATION],
  toolFormat: 'qwen',
  stopWords: ['<|im_end|>'],
  replaceEos: true,
};

// Gemma and Gemma 2 differ only in how the turn ends: the stop words and whether EOS is replaced or efficient.
const gemmaSlots: TemplateSpec = {
  user: ['<start_of_turn>user\n{{content}}<end_of_turn>\n<start_of_turn>model\n'],
  assistant: ['{{content}}<end_of_turn>\n'],
  system: ['{{content}}\n\n'],
  observation: ['<start_of_turn>tool\n{{content}}<end_of_turn>\n<start_of_turn>model\n'],
  prefix: [BOS],
  kind: 'llama2',
};

export const TEMPLATES: Record<string, TemplateSpec> = {
  alpaca: {
    user: ['### Instruction:\n{{content}}\n\n### Response:\n'],
    assistant: ['{{content}}', EOS, '\n\n'],
    defaultSystem:
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n',
  },
  chatml: {
    user: [CHATML_USER],
    assistant: [CHATML_ASSISTANT],
    system: [CHATML_SYSTEM],
    observation: ['<|im_start|>tool\n{{content}}<|im_end|>\n<|im_start|>assistant\n'],
    stopWords: ['<|im_end|>', '<|im_start|>'],
    replaceEos: true,
  },
  default: {
    user: ['Human: {{content}}', EOS, '\nAssistant:'],
    assistant: ['{{content}}', EOS, '\n'],
    system: ['System: {{content}}', EOS, '\n'],
  },
  empty: {
    assistant: ['{{content}}'],
  },
  gemma: { ...gemmaSlots, stopWords: ['<end_of_turn>'], replaceEos: true },
  gemma2: { ...gemmaSlots, stopWords: ['<eos>', '<end_of_turn>'], efficientEos: true },
  llama2: {
    user: [BOS, '[INST] {{content}} [/INST]'],
    system: ['<<SYS>>\n{{content}}\n<</SYS>>\n\n'],
    kind: 'llama2',
  },
  llama2_zh: {
    user: [BOS, '[INST] {{content}} [/INST]'],
    system: ['<<SYS>>\n{{content}}\n<</SYS>>\n\n'],
    defaultSystem: 'You are a helpful assistant. 你是一个乐于助人的助手。',
    kind: 'llama2',
  },
  llama3: {
    user: [LLAMA3_USER],
    assistant: ['{{content}}<|eot_id|>'],
    system: ['<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>'],
    function: ['{{content}}<|eot_id|>'],
    observation: [
      '<|start_header_id|>ipython<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    ],
    toolFormat: 'llama3',
    prefix: [BOS],
    stopWords: ['<|eot_id|>', '<|eom_id|>'],
    replaceEos: true,
  },
  mistral: {
    user: ['[INST] {{content}}[/INST]'],
    assistant: [' {{content}}', EOS],
    system: ['{{content}}\n\n'],
    function: ['[TOOL_CALLS] {{content}}', EOS],
    observation: ['[TOOL_RESULTS] {"content": {{content}}}[/TOOL_RESULTS]'],
    toolFormat: 'mistral',
    prefix: [BOS],
    kind: 'llama2',
  },
  phi: {
    user: ['<|user|>\n{{content}}<|end|>\n<|assistant|>\n'],
    assistant: ['{{content}}<|end|>\n'],
    system: ['<|system|>\n{{content}}<|end|>\n'],
    stopWords: ['<|end|>'],
    replaceEos: true,
  },
  phi4: {
    user: ['<|im_start|>user<|im_sep|>{{content}}<|im_end|><|im_start|>assistant<|im_sep|>'],
    assistant: ['{{content}}<|im_end|>'],
    system: ['<|im_start|>system<|im_sep|>{{content}}<|im_end|>'],
    stopWords: ['<|im_end|>'],
    replaceEos: true,
  },
  qwen: { ...qwenSlots, defaultSystem: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' },
  qwen2_vl: { ...qwenSlots, defaultSystem: 'You are a helpful assistant.' },
  qwen3: { ...qwenSlots, kind: 'reasoning' },
  qwen3_nothink: { ...qwenSlots },
  vicuna: {
    user: ['USER: {{content}} ASSISTANT:'],
    defaultSystem: VICUNA_SYSTEM,
  },
  yi: {
    user: [CHATML_USER],
    assistant: [CHATML_ASSISTANT],
    system: [CHATML_SYSTEM],
    stopWords: ['<|im_end|>'],
  },
  zephyr: {
    user: ['<|user|>\n{{content}}', EOS, '<|assistant|>\n'],
    system: ['<|system|>\n{{content}}', EOS],
    defaultSystem: 'You are Zephyr, a helpful assistant.',
  },
};
