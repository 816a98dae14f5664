// Form metadata of every config key, read off the schema (src/config/schema.ts) and the resume planner's classes, so
// the page never holds a second list of keys.
import type { z } from 'zod';
import { keyInfo, unwrap } from '../../config/describe.js';
import { configGroups, configObject, ineffectiveKeys } from '../../config/schema.js';
import { kindOf } from '../../train/resume-plan.js';
import type { ConfigKeysResponse, KeyInfo } from './api-types.js';

function range(schema: z.ZodType): { min: number | null; max: number | null; choices: string[] | null } {
  const { inner } = unwrap(schema);
  const def = inner.def as { type: string; entries?: Record<string, string> };
  if (def.type === 'enum') return { min: null, max: null, choices: Object.values(def.entries ?? {}) };
  if (def.type !== 'number') return { min: null, max: null, choices: null };
  const n = inner as z.ZodNumber;
  const finite = (v: number | null): number | null => (v !== null && Number.isFinite(v) ? v : null);
  return { min: finite(n.minValue), max: finite(n.maxValue), choices: null };
}

export function formKeys(): ConfigKeysResponse {
  const shapes = configObject.shape as Record<string, z.ZodType>;
  return {
    groups: Object.entries(configGroups).map(([group, schema]) => ({
      name: group,
      keys: Object.keys(schema.shape).map((key): KeyInfo => {
        const info = keyInfo(key);
        return {
          key, group, type: info.type, default: info.fallback, description: info.description, ...range(shapes[key]),
          resumeClass: kindOf(key), ineffective: ineffectiveKeys.has(key),
        };
      }),
    })),
  };
}
