// Reads a LLaMA-Factory style config (YAML or JSON) plus `key=value` overrides into a validated RetuneConfig. Every
// error names where the bad value came from: `cfg.yaml:12: learning_rate: expected a number, got "fast"`.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { LineCounter, YAMLMap, isMap, isScalar, parse, parseDocument, stringify } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../util/errors.js';
import { writeTextAtomic } from '../util/write-atomic.js';
import { configKeys, isConfigKey, isKnownKey, keyInfo, refusedFeatures, renamedKey } from './keys.js';
import { configGroups, configSchema, type ConfigKey, type RetuneConfig } from './schema.js';

export interface LoadedConfig {
  config: RetuneConfig;
  unknownKeys: string[];      // keys neither the schema nor LLaMA-Factory knows, in file order, then override order
  ineffectiveKeys: string[];  // keys the user set that have no effect on this engine, in the same order
  source: string;             // the config file, or '<overrides>' without one
  notices: string[];          // resolved ambiguities worth one line on stderr
}

// Where each key's value came from, for error messages.
type Origins = Map<string, string>;

function readRaw(path: string): { raw: Record<string, unknown>; origins: Origins } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new UsageError(`${path}: cannot read config file: ${reason}`);
  }
  // YAML 1.2 reads JSON too, so one parser gives line numbers for both formats.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const { line, col } = lineCounter.linePos(err.pos[0]);
    throw new UsageError(`${path}:${line}:${col}: ${err.message.split('\n')[0]}`);
  }
  const origins: Origins = new Map();
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return { raw: {}, origins };
  if (!isMap(doc.contents)) {
    throw new UsageError(`${path}: expected a mapping of key: value at the top level`);
  }
  for (const pair of (doc.contents as YAMLMap).items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const offset = isScalar(pair.key) && pair.key.range ? pair.key.range[0] : 0;
    origins.set(key, `${path}:${lineCounter.linePos(offset).line}`);
  }
  return { raw: doc.toJS() as Record<string, unknown>, origins };
}

// `key=value` with the value read as a YAML scalar or flow collection, as LLaMA-Factory's dotlist overrides are.
// Text that only YAML's block syntax would read as something else (`default_system=Note: be brief`) stays text.
function parseOverride(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`override "${text}": expected key=value`);
  const key = text.slice(0, eq).trim();
  const valueText = text.slice(eq + 1).trim();
  if (valueText === '') return [key, null];
  if (valueText.startsWith('[') || valueText.startsWith('{')) {
    try {
      return [key, parse(valueText)];
    } catch (err) {
      throw new UsageError(`override ${text}: cannot read the value: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  let value: unknown;
  try {
    value = parse(valueText);
  } catch {
    return [key, valueText];
  }
  return [key, value !== null && typeof value === 'object' ? valueText : value];
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  return String(value);
}

const typeNames: Record<string, string> = {
  number: 'a number', int: 'an integer', string: 'a string', boolean: 'true or false', array: 'a list',
  record: 'a mapping', object: 'a mapping',
};

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = issue.path.length === 1 && keyInfo(String(issue.path[0]))?.kind === 'integer' ? 'int' : issue.expected;
      return `expected ${typeNames[expected] ?? expected}, got ${show(value)}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}, got ${show(value)}`;
    case 'invalid_union':
      return `expected a string or a list of strings, got ${show(value)}`;
    case 'too_small':
      return `must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}, got ${show(value)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}, got ${show(value)}`;
    default:
      return issue.message;
  }
}

function valueAt(raw: Record<string, unknown>, path: PropertyKey[]): unknown {
  let value: unknown = raw;
  for (const part of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[part];
  return value;
}

// Problems are reported against the key they belong to, so wrong values and refused features read as one list.
interface Problem {
  key: string;
  message: string; // starts with the key path
}

function validate(raw: Record<string, unknown>, origins: Origins, source: string, refused: Problem[]): RetuneConfig {
  const result = configSchema.safeParse(raw);
  if (result.success && refused.length === 0) return result.data;
  const issues: Problem[] = result.success ? [] : result.error.issues.map((issue) => ({
    key: String(issue.path[0]),
    message: `${issue.path.join('.')}: ${describeIssue(issue, valueAt(raw, issue.path))}`,
  }));
  // In the order the user wrote the keys: file lines first, then overrides.
  const order = [...origins.keys()];
  const problems = [...refused, ...issues].sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
  const lines = problems.map((problem) => `${origins.get(problem.key) ?? source}: ${problem.message}`);
  const shown = lines.slice(0, 3);
  if (lines.length > 3) shown.push(`(and ${lines.length - 3} more)`);
  throw new UsageError(shown.join('\n'));
}

// LLaMA-Factory's consistency rules, plus Retune's own for resume; each error points at the offending key.
function checkCrossFields(config: RetuneConfig, origins: Origins, source: string, notices: string[]): void {
  const fail = (key: string, message: string): never => {
    throw new UsageError(`${origins.get(key) ?? source}: ${key}: ${message}`);
  };
  const datasets = config.dataset?.split(',') ?? null;
  if (config.val_size > 0 && datasets === null) fail('val_size', 'needs dataset to split from');
  if (config.val_size > 0 && config.eval_dataset !== null) fail('val_size', 'cannot be used together with eval_dataset');
  if (config.val_size >= 1 && !Number.isInteger(config.val_size)) {
    fail('val_size', `must be a fraction below 1 or a whole count, got ${config.val_size}`);
  }
  if (config.interleave_probs !== null) {
    if (config.mix_strategy === 'concat') fail('interleave_probs', 'needs mix_strategy interleave_under or interleave_over');
    const probs = config.interleave_probs.split(',').map(Number);
    if (probs.some((p) => !Number.isFinite(p) || p < 0)) fail('interleave_probs', 'expected a comma list of numbers >= 0');
    if (datasets !== null && datasets.length !== probs.length) {
      fail('interleave_probs', `has ${probs.length} entries for ${datasets.length} datasets`);
    }
  }
  if (config.mask_history && config.train_on_prompt) fail('mask_history', 'cannot be used together with train_on_prompt');
  if (config.finetuning_type !== 'lora') {
    for (const key of ['use_rslora', 'use_dora', 'create_new_adapter'] as const) {
      if (config[key]) fail(key, `only applies to finetuning_type lora (got ${config.finetuning_type})`);
    }
  }
  if (config.eval_strategy !== 'no' && config.val_size === 0 && config.eval_dataset === null) {
    fail('eval_strategy', 'needs an eval split: set val_size or eval_dataset');
  }
  if (config.resume_lr_mode === 'rewarm' && config.resume_warmup_steps === 0) {
    fail('resume_warmup_steps', 'must be > 0 with resume_lr_mode rewarm');
  }
  if (config.warmup_steps > 0 && config.warmup_ratio > 0) {
    notices.push(`warmup_steps (${config.warmup_steps}) overrides warmup_ratio (${config.warmup_ratio}), as in HF`);
  }
}

const defaults = configSchema.parse({}) as Record<string, unknown>;

// How the CLI picks the keys worth echoing, and which ignored keys earn a notice.
export function differsFromDefault(config: RetuneConfig, key: string): boolean {
  return JSON.stringify(config[key as keyof RetuneConfig]) !== JSON.stringify(defaults[key]);
}

export function loadConfig(path: string | null, overrides: string[]): LoadedConfig {
  const source = path ?? '<overrides>';
  const { raw, origins } = path === null ? { raw: {}, origins: new Map<string, string>() } : readRaw(path);
  for (const text of overrides) {
    const [key, value] = parseOverride(text);
    raw[key] = value;
    origins.set(key, `override ${text}`);
  }
  const unknownKeys = Object.keys(raw).filter((key) => !isKnownKey(key));
  const known: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) if (isConfigKey(key)) known[key] = value;
  const config = validate(known, origins, source, refusedFeatures(raw));
  const notices: string[] = [];
  checkCrossFields(config, origins, source, notices);
  // `report_to: none` or `fp16: false` in a LLaMA-Factory config ask for nothing, so they earn no notice.
  const moved = (key: string): boolean => (isConfigKey(key)
    ? differsFromDefault(config, key)
    : JSON.stringify(raw[key]) !== JSON.stringify(keyInfo(key)?.default));
  const ineffective = Object.keys(raw).filter((key) => keyInfo(key)?.lfStatus === 'ignored' && moved(key));
  return { config, unknownKeys, ineffectiveKeys: ineffective, source, notices };
}

// Keys a command cannot run without; named against the file so the user knows where to add them.
export function requireKeys(loaded: LoadedConfig, keys: readonly ConfigKey[], purpose: string): void {
  for (const key of keys) {
    if (loaded.config[key] === null) throw new UsageError(`${loaded.source}: ${key} is required ${purpose}`);
  }
}

export function checkTrainConfig(loaded: LoadedConfig): void {
  if (!loaded.config.do_train) throw new UsageError(`${loaded.source}: do_train is not true; set do_train: true to train`);
  requireKeys(loaded, ['model_name_or_path', 'dataset', 'output_dir'], 'to train');
}

// The nearest known key by edit distance, for "did you mean" hints on unknown keys.
export function suggestKey(unknown: string): string | null {
  const renamed = renamedKey(unknown);
  if (renamed !== null) return renamed;
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(unknown.length / 4)) + 1;
  for (const { name: key } of configKeys()) {
    if (!isConfigKey(key)) continue;
    const d = editDistance(unknown, key);
    if (d < bestDistance) [best, bestDistance] = [key, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length];
}

// training_args.yaml: the resolved config grouped like --help, loadable again by loadConfig to the same values.
// Written atomically so an existing file is never left half-written.
export function saveResolvedConfig(config: RetuneConfig, path: string): void {
  const parts: string[] = [];
  for (const [group, schema] of Object.entries(configGroups)) {
    const values: Record<string, unknown> = {};
    for (const key of Object.keys(schema.shape)) values[key] = config[key as keyof RetuneConfig];
    parts.push(`# ${group}\n${stringify(values, { lineWidth: 0 })}`);
  }
  writeTextAtomic(path, `# Resolved configuration written by Retune (${basename(path)})\n${parts.join('\n')}`);
}
