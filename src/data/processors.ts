// Stage processors, LLaMA-Factory's rules: examples -> token rows.
//   pt:        texts + EOS, concatenated and cut into cutoff_len blocks (or one truncated row each without packing)
//   sft:       multi-turn (prompt, response) pairs; prompt labels -100 unless train_on_prompt; mask_history keeps
//              only the last answer's labels; infer_seqlen splits the budget between prompt and answer
//   rm / dpo:  prompt + chosen and prompt + rejected, one truncation for both
//   kto:       prompt + answer with its desirable tag, and a mismatched (KL) pair from the neighbouring example

import type { Example } from './converter.js';
import type { Template } from './template.js';
import type { Tokenizer } from './tokenizer.js';
import type { TokenizedRow } from './dataset-store.js';

export const IGNORE_INDEX = -100;

export interface ProcessOptions {
  cutoffLen: number;
  trainOnPrompt: boolean;
  maskHistory: boolean;
  packing: boolean;
  templateName: string;
  batchSize: number; // preprocessing_batch_size: KTO pairs, pt blocks and sft packing form within a batch
}

// How many source and target tokens survive truncation to `cutoffLen` (LLaMA-Factory's infer_seqlen): a short
// target is kept whole, else a short source is, else both shrink in proportion.
export function inferSeqlen(sourceLen: number, targetLen: number, cutoffLen: number): [number, number] {
  let maxTargetLen: number;
  if (targetLen * 2 < cutoffLen) maxTargetLen = cutoffLen;
  else if (sourceLen * 2 < cutoffLen) maxTargetLen = cutoffLen - sourceLen;
  else maxTargetLen = Math.floor(cutoffLen * (targetLen / (sourceLen + targetLen)));
  const newTargetLen = Math.min(maxTargetLen, targetLen);
  const maxSourceLen = Math.max(cutoffLen - newTargetLen, 0);
  return [Math.min(maxSourceLen, sourceLen), newTargetLen];
}

function ignored(n: number): number[] {
  return new Array<number>(n).fill(IGNORE_INDEX);
}

export function encodeSupervised(example: Example, template: Template, tokenizer: Tokenizer, opts: ProcessOptions): TokenizedRow {
  const messages = [...example.prompt, ...example.response];
  const dropHistoryThoughts = opts.maskHistory && !template.preserveThinking;
  let pairs = template.encodeMultiturn(tokenizer, messages, example.system, example.tools, dropHistoryThoughts);
  const eos = tokenizer.eosId as number;
  let totalLength = template.efficientEos ? 1 : 0;
  // With mask_history the last turns have priority for the length budget.
  if (opts.maskHistory) pairs = pairs.slice().reverse();
  let inputIds: number[] = [];
  let labels: number[] = [];
  for (let turn = 0; turn < pairs.length; turn++) {
    if (totalLength >= opts.cutoffLen) break;
    const [sourceLen, targetLen] = inferSeqlen(pairs[turn][0].length, pairs[turn][1].length, opts.cutoffLen - totalLength);
    const source = pairs[turn][0].slice(0, sourceLen);
    const target = pairs[turn][1].slice(0, targetLen);
    totalLength += sourceLen + targetLen;
    let sourceLabel: number[];
    if (opts.trainOnPrompt) sourceLabel = source;
    // Efficient-EOS templates end an answer with the next prompt's first token standing in for EOS.
    else if (template.efficientEos && turn !== 0) sourceLabel = [eos, ...ignored(sourceLen - 1)];
    else sourceLabel = ignored(sourceLen);
    const targetLabel = opts.maskHistory && turn !== 0 ? ignored(targetLen) : target;
    if (opts.maskHistory) {
      inputIds = [...source, ...target, ...inputIds];
      labels = [...sourceLabel, ...targetLabel, ...labels];
    } else {
      inputIds.push(...source, ...target);
      labels.push(...sourceLabel, ...targetLabel);
    }
  }
  if (template.efficientEos) {
    inputIds.push(eos);
    labels.push(eos);
  }
  return { inputIds: Int32Array.from(inputIds), labels: Int32Array.from(labels) };
}

export function encodePairwise(example: Example, template: Template, tokenizer: Tokenizer, opts: ProcessOptions): TokenizedRow {
  const [promptIds, chosen] = template.encodeOneturn(tokenizer, [...example.prompt, example.response[0]], example.system, example.tools);
  const [, rejected] = template.encodeOneturn(tokenizer, [...example.prompt, example.response[1]], example.system, example.tools);
  if (template.efficientEos) {
    chosen.push(tokenizer.eosId as number);
    rejected.push(tokenizer.eosId as number);
  }
  // The answers matter more than the prompt: truncate against the longer one.
  const [sourceLen, targetLen] = inferSeqlen(promptIds.length, Math.max(chosen.length, rejected.length), opts.cutoffLen);
  const prompt = promptIds.slice(0, sourceLen);
  const c = chosen.slice(0, targetLen);
  const r = rejected.slice(0, targetLen);
  return {
    inputIds: Int32Array.from([...prompt, ...c]),
    labels: Int32Array.from([...ignored(sourceLen), ...c]),
    rejectedIds: Int32Array.from([...prompt, ...r]),
    rejectedLabels: Int32Array.from([...ignored(sourceLen), ...r]),
  };
}

function encodePromptAnswer(example: Example, answer: Example['response'][number], template: Template, tokenizer: Tokenizer, cutoffLen: number): [Int32Array, Int32Array] {
  const [promptIds, responseIds] = template.encodeOneturn(tokenizer, [...example.prompt, answer], example.system, example.tools);
  if (template.efficientEos) responseIds.push(tokenizer.eosId as number);
  const [sourceLen, targetLen] = inferSeqlen(promptIds.length, responseIds.length, cutoffLen);
  const target = responseIds.slice(0, targetLen);
  return [Int32Array.from([...promptIds.slice(0, sourceLen), ...target]), Int32Array.from([...ignored(sourceLen), ...target])];
}

// `klSource` is the example whose answer is paired with this prompt for the KL term (the previous one, cyclically).
export function encodeFeedback(example: Example, klSource: Example, template: Template, tokenizer: Tokenizer, opts: ProcessOptions): TokenizedRow {
  const [inputIds, labels] = encodePromptAnswer(example, example.response[0], template, tokenizer, opts.cutoffLen);
  const [klIds, klLabels] = encodePromptAnswer(example, klSource.response[0], template, tokenizer, opts.cutoffLen);
  return { inputIds, labels, klIds, klLabels, ktoTag: example.ktoTag === true };
}

// Pre-training text: EOS is appended as text (LLaMA-Factory uses <|end_of_text|> for llama3, whose EOS is replaced).
// Without packing each text is its own row, BOS-prefixed when the tokenizer adds BOS, cut at cutoff_len.
export function encodePretrainText(example: Example, tokenizer: Tokenizer, opts: ProcessOptions): Int32Array {
  const eos = opts.templateName === 'llama3' ? '<|end_of_text|>' : (tokenizer.eosToken ?? '');
  const text = (example.prompt[0]?.content ?? '') + eos;
  if (opts.packing) return Int32Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
  const bos = tokenizer.addBosToken && tokenizer.bosToken !== null ? tokenizer.bosToken : '';
  return Int32Array.from(tokenizer.encode(bos + text, { addSpecialTokens: false }).slice(0, opts.cutoffLen));
}

// Packed pre-training: every text's ids concatenated and cut into full blocks of cutoff_len; the tail shorter than a
// block is dropped. With add_bos_token the first id of each block becomes BOS.
export function pretrainRows(texts: Int32Array[], tokenizer: Tokenizer, opts: ProcessOptions): TokenizedRow[] {
  if (!opts.packing) return texts.map((ids) => ({ inputIds: ids, labels: Int32Array.from(ids) }));
  const total = texts.reduce((n, ids) => n + ids.length, 0);
  const all = new Int32Array(total);
  let offset = 0;
  for (const ids of texts) {
    all.set(ids, offset);
    offset += ids.length;
  }
  const bos = tokenizer.addBosToken ? tokenizer.bosId : null;
  const rows: TokenizedRow[] = [];
  for (let b = 0; b + 1 <= total / opts.cutoffLen; b++) {
    const block = all.slice(b * opts.cutoffLen, (b + 1) * opts.cutoffLen);
    if (bos !== null) block[0] = bos;
    rows.push({ inputIds: block, labels: Int32Array.from(block) });
  }
  return rows;
}
