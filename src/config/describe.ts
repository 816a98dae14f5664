// How a key's schema reads to a user: its type in words and its default, for `--help` and for error messages.
import type { z } from 'zod';
import { configObject } from './schema.js';

export interface KeyInfo {
  type: string; // int, number, boolean, string, comma list, mapping, or the choices a|b|c
  fallback: unknown; // the default before cross-key resolution; null means unset
  description: string;
}

// Peels .default() and .nullable() wrappers down to the value's own schema.
export function unwrap(schema: z.ZodType): { inner: z.ZodType; fallback: unknown } {
  let inner = schema;
  let fallback: unknown = null;
  for (;;) {
    const def = inner.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === 'default') fallback = def.defaultValue;
    else if (def.type !== 'nullable') break;
    inner = def.innerType as z.ZodType;
  }
  return { inner, fallback };
}

function typeName(schema: z.ZodType): string {
  const def = schema.def as { type: string; entries?: Record<string, string> };
  switch (def.type) {
    case 'enum': return Object.values(def.entries ?? {}).join('|');
    case 'number': return (schema as z.ZodNumber).isInt ? 'int' : 'number';
    case 'pipe': return 'comma list';
    case 'union': return 'string|list';
    case 'record': return 'mapping';
    default: return def.type;
  }
}

export function keyInfo(key: string): KeyInfo {
  const schema = (configObject.shape as Record<string, z.ZodType>)[key];
  const { inner, fallback } = unwrap(schema);
  return { type: typeName(inner), fallback, description: schema.description ?? '' };
}
