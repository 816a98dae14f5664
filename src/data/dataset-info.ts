// dataset_info.json in LLaMA-Factory's schema: which file a dataset name points to, its formatting, and which
// columns / message tags hold what. Hub and script entries cannot be fetched here: Retune reads local files only.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';

export interface DatasetAttr {
  name: string; // the key in dataset_info.json
  fileName: string;
  formatting: 'alpaca' | 'sharegpt';
  ranking: boolean;
  split: string;
  numSamples: number | null;
  // columns (null: not present in this dataset)
  system: string | null;
  tools: string | null;
  chosen: string | null;
  rejected: string | null;
  ktoTag: string | null;
  prompt: string | null;
  query: string | null;
  response: string | null;
  history: string | null;
  messages: string | null;
  // sharegpt tags
  roleTag: string | null;
  contentTag: string | null;
  userTag: string | null;
  assistantTag: string | null;
  observationTag: string | null;
  functionTag: string | null;
  systemTag: string | null;
  // the entry as written, for the fingerprint
  entry: Record<string, unknown>;
}

const ALPACA_COLUMNS = { prompt: 'instruction', query: 'input', response: 'output', history: null } as const;
const SHAREGPT_TAGS = {
  role_tag: 'from',
  content_tag: 'value',
  user_tag: 'human',
  assistant_tag: 'gpt',
  observation_tag: 'observation',
  function_tag: 'function_call',
  system_tag: 'system',
} as const;

export function readDatasetInfo(datasetDir: string): Record<string, Record<string, unknown>> {
  const path = join(datasetDir, 'dataset_info.json');
  if (!existsSync(path)) throw new UsageError(`${path}: not found (set dataset_dir to the folder holding dataset_info.json)`);
  let info: unknown;
  try {
    info = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`${path}: invalid JSON (${(err as Error).message})`);
  }
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new UsageError(`${path}: expected a JSON object of datasets`);
  return info as Record<string, Record<string, unknown>>;
}

export function datasetAttr(datasetDir: string, info: Record<string, Record<string, unknown>>, name: string): DatasetAttr {
  const where = join(datasetDir, 'dataset_info.json');
  const entry = info[name];
  if (entry === undefined) {
    throw new UsageError(`dataset: ${JSON.stringify(name)} is not defined in ${where} (defined: ${Object.keys(info).join(', ') || 'none'})`);
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new UsageError(`${where}: entry ${name} must be an object`);
  for (const key of ['hf_hub_url', 'ms_hub_url', 'om_hub_url', 'script_url']) {
    if (key in entry && !('file_name' in entry)) {
      throw new UsageError(
        `${where}: dataset ${name} uses ${key}, which Retune cannot fetch; download the data and point "file_name" at the local file or folder`,
      );
    }
  }
  const fileName = entry.file_name;
  if (typeof fileName !== 'string' || fileName === '') throw new UsageError(`${where}: dataset ${name} needs a "file_name"`);
  const formatting = entry.formatting ?? 'alpaca';
  if (formatting !== 'alpaca' && formatting !== 'sharegpt') {
    throw new UsageError(`${where}: dataset ${name}: formatting must be "alpaca" or "sharegpt", got ${JSON.stringify(formatting)}`);
  }
  const numSamples = entry.num_samples ?? null;
  if (numSamples !== null && (!Number.isInteger(numSamples) || (numSamples as number) <= 0)) {
    throw new UsageError(`${where}: dataset ${name}: num_samples must be a positive integer`);
  }
  const columns = objectField(entry, 'columns', where, name);
  for (const media of ['images', 'videos', 'audios']) {
    if (columns && columns[media] !== undefined && columns[media] !== null) {
      throw new UsageError(`${where}: dataset ${name}: columns.${media} is not supported (Retune trains text-only models)`);
    }
  }
  const tags = objectField(entry, 'tags', where, name);
  // LLaMA-Factory: once "columns" is given, every column it does not name is absent (alpaca defaults only apply
  // when "columns" is missing). The same holds for "tags" with sharegpt.
  const col = (key: string, fallback: string | null): string | null =>
    columns ? stringOrNull(columns[key], where, `${name}.columns.${key}`) : fallback;
  const tag = (key: keyof typeof SHAREGPT_TAGS): string | null =>
    tags ? stringOrNull(tags[key], where, `${name}.tags.${key}`) : SHAREGPT_TAGS[key];
  const alpaca = formatting === 'alpaca';
  const attr: DatasetAttr = {
    name,
    fileName,
    formatting,
    ranking: entry.ranking === true,
    split: typeof entry.split === 'string' ? entry.split : 'train',
    numSamples: numSamples as number | null,
    system: col('system', null),
    tools: col('tools', null),
    chosen: col('chosen', null),
    rejected: col('rejected', null),
    ktoTag: col('kto_tag', null),
    prompt: alpaca ? col('prompt', ALPACA_COLUMNS.prompt) : null,
    query: alpaca ? col('query', ALPACA_COLUMNS.query) : null,
    response: alpaca ? col('response', ALPACA_COLUMNS.response) : null,
    history: alpaca ? col('history', ALPACA_COLUMNS.history) : null,
    messages: alpaca ? null : col('messages', 'conversations'),
    roleTag: alpaca ? null : tag('role_tag'),
    contentTag: alpaca ? null : tag('content_tag'),
    userTag: alpaca ? null : tag('user_tag'),
    assistantTag: alpaca ? null : tag('assistant_tag'),
    observationTag: alpaca ? null : tag('observation_tag'),
    functionTag: alpaca ? null : tag('function_tag'),
    systemTag: alpaca ? null : tag('system_tag'),
    entry,
  };
  if (!alpaca && (attr.roleTag === null || attr.contentTag === null || attr.messages === null)) {
    throw new UsageError(`${where}: sharegpt dataset ${name} needs columns.messages, tags.role_tag and tags.content_tag`);
  }
  return attr;
}

function objectField(entry: Record<string, unknown>, key: string, where: string, name: string): Record<string, unknown> | null {
  const value = entry[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where}: ${name}.${key} must be an object`);
  return value as Record<string, unknown>;
}

function stringOrNull(value: unknown, where: string, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new UsageError(`${where}: ${field} must be a string`);
  return value;
}
