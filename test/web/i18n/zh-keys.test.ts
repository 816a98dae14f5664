// The Chinese page describes every config key: web/i18n/zh-keys.ts has one translation per key of configKeys() (the
// schema's keys, which --help, the loader and the form read) and none for a key that does not exist. A translation
// keeps the key names and file names its English description mentions, so it cannot drift to another key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configKeys } from '../../../src/config/keys.js';
import { zhKeys } from '../../../web/i18n/zh-keys.js';

const keys = configKeys();
const names = new Set(keys.map((k) => k.name));

test('every config key has a zh description', () => {
  assert.deepEqual(keys.filter((k) => !(k.name in zhKeys)).map((k) => k.name), []);
});

test('the zh table names no key that configKeys() lacks', () => {
  assert.deepEqual(Object.keys(zhKeys).filter((k) => !names.has(k)), []);
});

test('each zh description is Chinese and keeps the identifiers of the English one', () => {
  for (const { name, description } of keys) {
    const zh = zhKeys[name];
    assert.match(zh, /[\u4e00-\u9fff]/, `${name}: no Chinese in "${zh}"`);
    for (const id of description.match(/\b[a-z0-9]+(?:_[a-z0-9*]+)+\b|\b[\w-]+\.(?:json|jsonl|png|svg)\b/g) ?? []) {
      assert.ok(zh.includes(id), `${name}: "${id}" of the English description is missing from "${zh}"`);
    }
  }
});
