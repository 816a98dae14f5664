// Form metadata of every config key: the schema's own description of its keys (configKeys() in src/config/keys.ts)
// in the Board's shape, grouped as `retune train --help` groups them. The page holds no second list of keys.
import { configKeys, type KeyInfo as SchemaKeyInfo } from '../../config/keys.js';
import { configGroups } from '../../config/schema.js';
import type { ConfigKeysResponse, KeyInfo } from './api-types.js';

const TYPE_NAMES: Record<SchemaKeyInfo['kind'], string> = {
  boolean: 'boolean', integer: 'int', number: 'number', string: 'string', enum: 'enum', list: 'comma list', record: 'mapping',
};

function formKey(info: SchemaKeyInfo): KeyInfo {
  return {
    key: info.name, group: info.group, type: info.kind === 'enum' ? (info.values ?? []).join('|') : TYPE_NAMES[info.kind],
    choices: info.values ?? null, default: info.default, min: info.min ?? null, max: info.max ?? null,
    exclusiveMin: info.exclusiveMin === true, exclusiveMax: info.exclusiveMax === true, nullable: info.nullable,
    description: info.description, resumeClass: info.resumeClass, ineffective: info.lfStatus === 'ignored',
    lfStatus: info.lfStatus,
  };
}

export function formKeys(): ConfigKeysResponse {
  const all = configKeys();
  return {
    groups: Object.keys(configGroups).map((name) => ({ name, keys: all.filter((k) => k.group === name).map(formKey) })),
  };
}
