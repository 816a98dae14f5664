// The schema's declarations as data: one JSON-serializable description of every key for front ends (`--help`, the web
// UI form), and the questions the loader and the resume planner ask about a key by name.
import type { z } from 'zod';
import { configGroups, keyFacts, llamaFactoryGroup, type LfStatus, type ResumeClass } from './schema.js';

export type GroupName = keyof typeof configGroups;

export interface KeyInfo {
  name: string;
  group: GroupName | 'llamafactory'; // llamafactory: LLaMA-Factory keys outside RetuneConfig (lfStatus ignored/refused)
  kind: 'boolean' | 'integer' | 'number' | 'string' | 'enum' | 'list' | 'record';
  values?: string[]; // enum: the choices, in order
  default: unknown; // before cross-key resolution (lora_alpha, eval_steps, packing); null = unset; lists as 'a,b'
  min?: number; // integers: inclusive; numbers: inclusive unless exclusiveMin
  max?: number;
  exclusiveMin?: true;
  exclusiveMax?: true;
  nullable: boolean; // null (unset) is a valid value
  description: string; // one line
  resumeClass: ResumeClass;
  lfStatus: LfStatus;
  instead?: string; // refused: what to do instead (remove the key, or an alternative)
  formerly?: string; // an older name of the key
}

const groups = [...Object.entries(configGroups), ['llamafactory', llamaFactoryGroup]] as [KeyInfo['group'], z.ZodObject][];

// Peels .default() and .nullable() wrappers down to the value's own schema.
function unwrap(schema: z.ZodType): { inner: z.ZodType; fallback: unknown; nullable: boolean } {
  let inner = schema;
  let fallback: unknown = null;
  let nullable = false;
  for (;;) {
    const def = inner.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === 'default') fallback = def.defaultValue;
    else if (def.type === 'nullable') nullable = true;
    else break;
    inner = def.innerType as z.ZodType;
  }
  return { inner, fallback, nullable };
}

interface Bound { check: string; value?: number; inclusive?: boolean }

// The range a number's checks allow; an integer's exclusive bound becomes the inclusive one next to it.
function range(schema: z.ZodType, integer: boolean): Pick<KeyInfo, 'min' | 'max' | 'exclusiveMin' | 'exclusiveMax'> {
  const out: Pick<KeyInfo, 'min' | 'max' | 'exclusiveMin' | 'exclusiveMax'> = {};
  const checks = (schema.def as { checks?: { _zod: { def: Bound } }[] }).checks ?? [];
  for (const { _zod: { def } } of checks) {
    if (def.value === undefined) continue;
    const exclusive = def.inclusive === false;
    if (def.check === 'greater_than') {
      out.min = integer && exclusive ? def.value + 1 : def.value;
      if (exclusive && !integer) out.exclusiveMin = true;
    } else if (def.check === 'less_than') {
      out.max = integer && exclusive ? def.value - 1 : def.value;
      if (exclusive && !integer) out.exclusiveMax = true;
    }
  }
  return out;
}

function kindOf(schema: z.ZodType): Pick<KeyInfo, 'kind' | 'values'> {
  const def = schema.def as { type: string; entries?: Record<string, string> };
  switch (def.type) {
    case 'enum': return { kind: 'enum', values: Object.values(def.entries ?? {}) };
    case 'number': return { kind: (schema as z.ZodNumber).isInt ? 'integer' : 'number' };
    case 'pipe': return { kind: 'list' };
    case 'record': return { kind: 'record' };
    case 'boolean': return { kind: 'boolean' };
    default: return { kind: 'string' };
  }
}

function describeKey(name: string, group: KeyInfo['group'], schema: z.ZodType): KeyInfo {
  const facts = keyFacts.get(schema);
  if (facts === undefined) throw new Error(`config key ${name} is declared without its facts (use key() in schema.ts)`);
  const { inner, fallback, nullable } = unwrap(schema);
  const kind = kindOf(inner);
  const info: KeyInfo = {
    name, group, ...kind, default: fallback,
    ...(kind.kind === 'integer' || kind.kind === 'number' ? range(inner, kind.kind === 'integer') : {}),
    nullable, description: facts.description, resumeClass: facts.resume, lfStatus: facts.lf,
  };
  if (facts.lf === 'refused') {
    info.instead = facts.instead ?? `remove ${name} to run without it`;
    refusals.set(name, `${name}: ${facts.feature ?? name} is not supported yet; ${info.instead}`);
  }
  if (facts.formerly !== undefined) info.formerly = facts.formerly;
  return info;
}

// Refused key -> the error when a config switches it on.
const refusals = new Map<string, string>();

const table: ReadonlyMap<string, KeyInfo> = new Map(groups.flatMap(([group, object]) =>
  Object.entries(object.shape as Record<string, z.ZodType>).map(([name, schema]) =>
    [name, describeKey(name, group, schema)] as const)));

// Every key, in --help order: the groups of RetuneConfig, then the LLaMA-Factory keys outside it.
export function configKeys(): KeyInfo[] {
  return [...table.values()].map((info) => structuredClone(info));
}

// The facts of a known key (a RetuneConfig key or a LLaMA-Factory one), or undefined.
export function keyInfo(name: string): KeyInfo | undefined {
  const info = table.get(name);
  return info === undefined ? undefined : structuredClone(info);
}

// Keys of RetuneConfig, as opposed to LLaMA-Factory keys that are only recognised.
export function isConfigKey(name: string): boolean {
  return table.get(name)?.group !== 'llamafactory' && table.has(name);
}

export function isKnownKey(name: string): boolean {
  return table.has(name);
}

export function resumeClassOf(name: string): ResumeClass | undefined {
  return table.get(name)?.resumeClass;
}

// The key that now carries an older name, if any.
export function renamedKey(name: string): string | null {
  for (const info of table.values()) if (info.formerly === name) return info.name;
  return null;
}

// Each refused LLaMA-Factory feature a raw config switches on (not null/false/0), as `key: why` for the error.
export function refusedFeatures(raw: Record<string, unknown>): { key: string; message: string }[] {
  return Object.keys(raw)
    .filter((key) => table.get(key)?.lfStatus === 'refused' && raw[key] !== null && raw[key] !== false && raw[key] !== 0)
    .map((key) => ({ key, message: refusals.get(key) as string }));
}
