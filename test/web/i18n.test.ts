// The page's two string tables: the same keys, no empty string, and the same {placeholders} in both languages, so
// switching the language never shows a key name or loses a number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../../web/i18n/en.js';
import { zh } from '../../web/i18n/zh.js';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('en and zh have the same keys', () => {
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
});

test('every string is non-empty and zh fills the same placeholders as en', () => {
  for (const [key, text] of Object.entries(en)) {
    const other = (zh as Record<string, string>)[key];
    assert.ok(text.trim() !== '' && other.trim() !== '', `${key}: empty string`);
    assert.deepEqual(placeholders(other), placeholders(text), `${key}: placeholders differ`);
  }
});

test('zh is a translation, not a copy of en', () => {
  const copied = Object.keys(en).filter((k) => (zh as Record<string, string>)[k] === (en as Record<string, string>)[k]);
  assert.deepEqual(copied, []);
});
