// The page's strings: one table per language (en.ts, zh.ts, same keys), chosen in the header and kept in localStorage.
import { en, type MessageKey } from './en.js';
import { zh } from './zh.js';
import { zhKeys } from './zh-keys.js';

export type Lang = 'en' | 'zh';
export const tables: Record<Lang, Record<MessageKey, string>> = { en, zh };
export const languageNames: Record<Lang, string> = { en: 'English', zh: '简体中文' };

let current: Lang = 'en';

export function initialLang(): Lang {
  const saved = globalThis.localStorage?.getItem('retune.lang');
  if (saved === 'en' || saved === 'zh') return saved;
  return globalThis.navigator?.language?.startsWith('zh') === true ? 'zh' : 'en';
}

export function setLang(lang: Lang): void {
  current = lang;
  globalThis.localStorage?.setItem('retune.lang', lang);
  if (globalThis.document !== undefined) document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

// `t('progress', { step: 3 })` fills `{step}` in the current language's string.
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  return tables[current][key].replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole);
}

// A string whose key comes from the server (a group name): its translation when the table has one, else `fallback`.
export function tMaybe(key: string, fallback: string): string {
  return key in tables[current] ? t(key as MessageKey) : fallback;
}

// A config key's one-line description: the schema's English (sent with the key metadata), or its zh translation.
export function keyDescription(key: string, english: string): string {
  return current === 'zh' ? (zhKeys[key] ?? english) : english;
}
