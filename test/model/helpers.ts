// Shared by the model tests: fixture paths, golden files, comparisons, and the backends to run on.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeAvailable } from '../../src/backend/index.js';
import { readSafetensors, type StoredTensor } from '../../src/model/safetensors.js';

export { maxAbsDiff } from '../tensor/helpers.js';

export const FIXTURES = 'test/fixtures/models';
export const MODELS = ['llama-tied', 'qwen2-bf16', 'qwen3-sharded', 'mistral'] as const;

export function modelDir(name: string): string {
  return join(FIXTURES, name);
}

export class Golden {
  readonly tensors: Map<string, StoredTensor>;

  constructor(name: string) {
    this.tensors = readSafetensors(join(FIXTURES, 'goldens', `${name}.safetensors`));
  }

  get(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (t === undefined) throw new Error(`golden tensor ${name} is missing`);
    return t.data;
  }

  ints(name: string): Int32Array {
    return Int32Array.from(this.get(name));
  }
}

// The backends a test runs on; native only where the addon loads, otherwise the skip says why.
export const BACKENDS: { name: 'reference' | 'native'; skip: string | false }[] = [
  { name: 'reference', skip: false },
  { name: 'native', skip: nativeAvailable() ? false : 'native addon not built' },
];

// ||a - b|| / ||b||, the norm-wise relative error of a whole tensor.
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    ref += b[i] ** 2;
  }
  return Math.sqrt(diff / ref);
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'retune-model-'));
}

// A scratch copy of a fixture model, for tests that edit or break it.
export function copyModel(name: string): string {
  const dir = join(tempDir(), name);
  cpSync(modelDir(name), dir, { recursive: true });
  return dir;
}

export function editJson(path: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}
