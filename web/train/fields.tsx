// One form field per config key, built from the key metadata the server sends (type, choices, default, range,
// description): the page holds no list of keys of its own.
import { useState } from 'preact/hooks';
import type { FieldError, KeyInfo, RawConfig } from '../api.js';
import { keyDescription, t, tMaybe } from '../i18n/index.js';

// The value a key has in the form: what the user set, else its default.
export function valueOf(info: KeyInfo, values: RawConfig): unknown {
  return info.key in values ? values[info.key] : info.default;
}

export function shown(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// Text typed into a field as the value YAML would hold: numbers for int/number keys when they parse (the server's
// validation reports the rest with the CLI's message), null for an emptied key.
function parse(info: KeyInfo, text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (info.type === 'int' || info.type === 'number') {
    const n = Number(trimmed);
    return Number.isFinite(n) ? n : trimmed;
  }
  if (info.type === 'mapping') {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch {
      return trimmed;
    }
  }
  return text;
}

// A bound of ±2^53 - 1 is zod's way of saying "any safe integer": no bound worth showing.
const bound = (v: number | null) => (v === null || Math.abs(v) >= Number.MAX_SAFE_INTEGER ? null : v);

function range(info: KeyInfo): string {
  const min = bound(info.min);
  const max = bound(info.max);
  if (min !== null && max !== null) return ` [${min}, ${max}]`;
  if (min !== null) return ` ≥ ${min}`;
  if (max !== null) return ` ≤ ${max}`;
  return '';
}

export interface FieldProps {
  info: KeyInfo;
  values: RawConfig;
  errors: FieldError[];
  onChange: (key: string, value: unknown) => void;
  disabledChoices?: Set<string>;
  list?: string[]; // suggestions for a string key
}

function Input({ info, values, errors, onChange, disabledChoices, list }: FieldProps) {
  const value = valueOf(info, values);
  const cls = errors.some((e) => e.key === info.key) ? 'invalid' : '';
  if (info.choices !== null) {
    return (
      <select class={cls} value={shown(value)} name={info.key} onChange={(e) => onChange(info.key, e.currentTarget.value)}>
        {info.default === null && <option value="">{t('unset')}</option>}
        {info.choices.map((c) => (
          <option value={c} disabled={disabledChoices?.has(c) === true}>
            {disabledChoices?.has(c) === true ? `${c} (${t('notYetAvailable')})` : c}
          </option>
        ))}
      </select>
    );
  }
  if (info.type === 'boolean' && info.default !== null) {
    return (
      <input type="checkbox" name={info.key} checked={value === true}
        onChange={(e) => onChange(info.key, e.currentTarget.checked)} />
    );
  }
  if (info.type === 'boolean') {
    return (
      <select class={cls} name={info.key} value={shown(value)}
        onChange={(e) => onChange(info.key, e.currentTarget.value === '' ? null : e.currentTarget.value === 'true')}>
        <option value="">{t('unset')}</option>
        <option value="true">true</option>
        <option value="false">false</option>
      </select>
    );
  }
  return <TextInput info={info} value={value} cls={cls} list={list} onChange={onChange} />;
}

// Text being typed stays in the field until it is left (a change event), even when the form renders meanwhile (a
// validation answer arriving): only then is it parsed into the config.
function TextInput({ info, value, cls, list, onChange }: {
  info: KeyInfo;
  value: unknown;
  cls: string;
  list?: string[];
  onChange: (key: string, value: unknown) => void;
}) {
  const [draft, setDraft] = useState<string | null>(null);
  const listId = list !== undefined ? `list-${info.key}` : undefined;
  return (
    <>
      <input class={cls} name={info.key} value={draft ?? shown(value)} list={listId}
        placeholder={info.default === null ? t('unset') : shown(info.default)}
        onInput={(e) => setDraft(e.currentTarget.value)}
        onChange={(e) => {
          onChange(info.key, parse(info, e.currentTarget.value));
          setDraft(null);
        }} />
      {list !== undefined && <datalist id={listId}>{list.map((v) => <option value={v} />)}</datalist>}
    </>
  );
}

export function Field(props: FieldProps) {
  const { info, values, errors } = props;
  const error = errors.find((e) => e.key === info.key);
  const set = info.key in values && shown(values[info.key]) !== shown(info.default);
  const description = keyDescription(info.key, info.description);
  return (
    <label class={`field${set ? ' changed' : ''}`} data-key={info.key} title={description}>
      <span class="name">{info.key}</span>
      <Input {...props} />
      <span class="desc">
        {description}
        {info.ineffective ? ` (${t('noEffectHere')})` : ''}
        {` — ${t('defaultIs')} ${info.default === null ? t('unset') : shown(info.default)}${range(info)}`}
      </span>
      {error !== undefined && <span class="error" role="alert">{error.message}</span>}
    </label>
  );
}

export interface GroupsProps {
  groups: { name: string; keys: KeyInfo[] }[];
  skip: Set<string>; // keys placed elsewhere in the form
  values: RawConfig;
  errors: FieldError[];
  onChange: (key: string, value: unknown) => void;
}

// Every key, grouped as `retune train --help` groups them; a group opens when one of its keys has an error.
export function KeyGroups({ groups, skip, values, errors, onChange }: GroupsProps) {
  return (
    <>
      {groups.map((g) => {
        const keys = g.keys.filter((k) => !skip.has(k.key));
        if (keys.length === 0) return null;
        const failing = keys.some((k) => errors.some((e) => e.key === k.key));
        const changed = keys.filter((k) => k.key in values).length;
        return (
          <details class="group" open={failing || g.name === 'training'} data-group={g.name}>
            <summary>
              {tMaybe(`group.${g.name}`, g.name)}{' '}
              <span class="muted">({keys.length}{changed > 0 ? `, ${t('setCount', { n: changed })}` : ''})</span>
            </summary>
            <div class="keys">
              {keys.map((k) => <Field info={k} values={values} errors={errors} onChange={onChange} />)}
            </div>
          </details>
        );
      })}
    </>
  );
}
