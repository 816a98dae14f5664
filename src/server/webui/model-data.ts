// What the Train tab shows about a model folder and a dataset folder, read with the engine's own readers: config.json
// through readModelConfig, the parameter count from the safetensors headers, dataset_info.json through the data
// layer, and a preview of rows converted and tokenized exactly as training converts and tokenizes them.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkConfigObject } from '../../config/load.js';
import type { RetuneConfig } from '../../config/schema.js';
import { convertRow, type DataStage, type Example } from '../../data/converter.js';
import { datasetAttr, readDatasetInfo, type DatasetAttr } from '../../data/dataset-info.js';
import { encodePretrainText, encodeSupervised, IGNORE_INDEX } from '../../data/processors.js';
import { dataFiles, readRows } from '../../data/readers.js';
import { resolveTemplate } from '../../data/template-resolve.js';
import { loadTokenizer } from '../../data/tokenizer.js';
import { readModelConfig } from '../../model/config.js';
import { INDEX_NAME, WEIGHTS_NAME } from '../../model/load.js';
import { readSafetensorsHeader } from '../../model/safetensors.js';
import { UsageError } from '../../util/errors.js';
import type { DatasetEntry, DatasetPreviewResponse, ModelInfo, PreviewRow, PreviewTurn, RawConfig } from './api-types.js';
import { HttpError } from './http-error.js';

// LLaMA-Factory's Board picks a template from the model's name (its DEFAULT_TEMPLATE table); these are the families
// Retune runs, most specific name first.
const TEMPLATE_GUESSES: [RegExp, string][] = [
  [/qwen3/i, 'qwen3'], [/qwen/i, 'qwen'], [/llama-?3/i, 'llama3'], [/llama-?2.*chat|llama-?2/i, 'llama2'],
  [/mistral|mixtral/i, 'mistral'], [/yi-/i, 'yi'], [/phi-?4/i, 'phi4'], [/phi/i, 'phi'], [/gemma-?2/i, 'gemma2'],
  [/gemma/i, 'gemma'], [/zephyr/i, 'zephyr'], [/vicuna/i, 'vicuna'],
];

export function guessTemplate(name: string): string | null {
  return TEMPLATE_GUESSES.find(([re]) => re.test(name))?.[1] ?? null;
}

function countParameters(dir: string): { count: number; dtype: string | null } {
  const single = join(dir, WEIGHTS_NAME);
  const files = existsSync(single) ? [single] : weightFiles(dir);
  let count = 0;
  let dtype: string | null = null;
  for (const file of files) {
    for (const entry of readSafetensorsHeader(file).entries.values()) {
      count += entry.shape.reduce((a, b) => a * b, 1);
      dtype ??= entry.dtype;
    }
  }
  return { count, dtype };
}

function weightFiles(dir: string): string[] {
  const index = join(dir, INDEX_NAME);
  if (!existsSync(index)) throw new UsageError(`${dir}: no ${WEIGHTS_NAME} or ${INDEX_NAME}: not a model folder`);
  const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
  return [...new Set(Object.values(map))].map((f) => join(dir, f));
}

export function modelInfo(dir: string, shown: string): ModelInfo {
  const config = readModelConfig(dir);
  const raw = config.raw as Record<string, unknown>;
  const weights = countParameters(dir);
  const tokenizerConfig = join(dir, 'tokenizer_config.json');
  const hasChatTemplate = existsSync(tokenizerConfig)
    && typeof (JSON.parse(readFileSync(tokenizerConfig, 'utf8')) as { chat_template?: unknown }).chat_template === 'string';
  const architectures = raw.architectures;
  return {
    path: shown,
    family: config.model_type,
    architecture: Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null,
    parameters: weights.count,
    dtype: typeof raw.torch_dtype === 'string' ? raw.torch_dtype : (weights.dtype ?? 'unknown'),
    contextLength: config.max_position_embeddings,
    layers: config.num_hidden_layers,
    hiddenSize: config.hidden_size,
    vocabSize: config.vocab_size,
    template: guessTemplate(basename(dir)) ?? guessTemplate(config.model_type),
    hasChatTemplate,
  };
}

function kindOf(attr: DatasetAttr): DatasetEntry['kind'] {
  if (attr.ranking || attr.ktoTag !== null) return 'other';
  if (attr.formatting === 'alpaca' && attr.response === null) return 'pt';
  return 'sft';
}

export function listDatasets(dir: string): DatasetEntry[] {
  const info = readDatasetInfo(dir);
  return Object.keys(info).map((name) => {
    const attr = datasetAttr(dir, info, name);
    return { name, formatting: attr.formatting, file: attr.fileName, ranking: attr.ranking, kind: kindOf(attr) };
  });
}

function turnsOf(example: Example): PreviewTurn[] {
  return [...example.prompt, ...example.response].map((m) => ({ role: m.role, content: m.content }));
}

// The first rows of one dataset as training sees them. `datasetDir` and the model folder are real paths under the
// root; the config supplies template, stage, cutoff_len and the prompt options.
export async function previewDataset(
  raw: RawConfig, dataset: string, count: number, resolvePath: (p: string, what: string) => string,
): Promise<DatasetPreviewResponse> {
  const { loaded, problems } = checkConfigObject(raw, 'form');
  if (loaded === null) throw new HttpError(400, problems.map((p) => p.message).join('\n'), problems);
  const config: RetuneConfig = loaded.config;
  const datasetDir = resolvePath(config.dataset_dir, 'dataset_dir');
  const attr = datasetAttr(datasetDir, readDatasetInfo(datasetDir), dataset);
  const files = dataFiles(join(datasetDir, attr.fileName), `dataset ${dataset}`);
  // Invalid UTF-8 is reported when the run reads the data; the preview shows the rows as training will see them.
  const rows = (await Promise.all(files.map((file) => readRows(file, () => undefined)))).flat();
  const stage = config.stage as DataStage;
  const examples = rows.slice(0, count).map((row) => convertRow(row, attr, stage));
  const modelDir = config.model_name_or_path === null ? null : resolvePath(config.model_name_or_path, 'model_name_or_path');
  const tokenizer = modelDir === null ? null : await loadTokenizer(modelDir);
  const template = tokenizer === null ? null : resolveTemplate(config, tokenizer);
  const opts = {
    cutoffLen: config.cutoff_len, trainOnPrompt: config.train_on_prompt, maskHistory: config.mask_history,
    packing: false, templateName: template?.name ?? '', batchSize: config.preprocessing_batch_size,
  };
  const preview: PreviewRow[] = examples.filter((e): e is Example => e !== null).map((example) => {
    if (tokenizer === null || template === null) return { system: example.system, turns: turnsOf(example), tokens: null, trainedTokens: null };
    if (stage === 'pt') {
      const ids = encodePretrainText(example, tokenizer, opts);
      return { system: example.system, turns: turnsOf(example), tokens: ids.length, trainedTokens: ids.length };
    }
    const row = encodeSupervised(example, template, tokenizer, opts);
    const trained = row.labels.reduce((n, l) => n + (l === IGNORE_INDEX ? 0 : 1), 0);
    return { system: example.system, turns: turnsOf(example), tokens: row.inputIds.length, trainedTokens: trained };
  });
  return { dataset, total: rows.length, rows: preview, template: template?.name ?? null };
}
