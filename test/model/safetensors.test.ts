import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RetuneError } from '../../src/util/errors.js';
import { f32ToF16 } from '../../src/model/dtype.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { bf16ToF32, f32ToBf16 } from '../../src/tensor/tensor.js';
import { FIXTURES, tempDir } from './helpers.js';

const DTYPES = join(FIXTURES, 'goldens', 'dtypes.safetensors');

// The raw 16-bit words of a tensor, straight from the file bytes.
function rawBits(path: string, name: string): Uint16Array {
  const entry = readSafetensorsHeader(path).entries.get(name)!;
  const bytes = readFileSync(path).subarray(entry.begin, entry.end);
  const out = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt16LE(2 * i);
  return out;
}

test('bf16 and f16 casts give the bits torch gives', () => {
  const values = readSafetensors(DTYPES).get('values')!.data;
  assert.deepEqual(f32ToBf16(values), rawBits(DTYPES, 'bf16'));
  assert.deepEqual(f32ToF16(values), rawBits(DTYPES, 'f16'));
});

test('bf16 and f16 tensors widen to the float32 values torch computes', () => {
  const file = readSafetensors(DTYPES);
  const values = file.get('values')!.data;
  const bf16 = file.get('bf16')!.data;
  const f16 = file.get('f16')!.data;
  assert.deepEqual(bf16, bf16ToF32(rawBits(DTYPES, 'bf16')));
  assert.equal(bf16[2], 1);
  assert.equal(values.length, f16.length);
  assert.equal(f16[4], 65504); // largest half
  assert.equal(f16[5], Infinity); // 65520 rounds up to infinity
  assert.equal(f16[9], 2 ** -24); // smallest subnormal half
  assert.ok(Object.is(f16[1], -0));
  const kept = readSafetensors(DTYPES, { keepBf16: true }).get('bf16')!;
  assert.equal(kept.data.length, 0);
  assert.deepEqual(kept.bf16, rawBits(DTYPES, 'bf16'));
});

test('rewriting a file torch wrote gives the same bytes', () => {
  const dir = tempDir();
  for (const source of [DTYPES, join(FIXTURES, 'llama-tied', 'model.safetensors')]) {
    const { metadata } = readSafetensorsHeader(source);
    const tensors = new Map<string, TensorToWrite>();
    for (const [name, t] of readSafetensors(source)) tensors.set(name, { dtype: t.dtype as 'F32', shape: t.shape, data: t.data });
    const out = join(dir, 'copy.safetensors');
    writeSafetensors(out, tensors, metadata);
    assert.deepEqual(readFileSync(out), readFileSync(source), source);
  }
});

test('round trip of every float dtype with metadata; header padded to 8 bytes', () => {
  const path = join(tempDir(), 'x.safetensors');
  const a = Float32Array.from([1.5, -2.25, 3e-3, 0]);
  const tensors = new Map<string, TensorToWrite>([
    ['a.f32', { dtype: 'F32', shape: [2, 2], data: a }],
    ['b.bf16', { dtype: 'BF16', shape: [4], data: a }],
    ['c.f16', { dtype: 'F16', shape: [4, 1], data: a }],
    ['d.scalar', { dtype: 'F32', shape: [], data: Float32Array.of(7) }],
    ['e.empty', { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) }],
  ]);
  writeSafetensors(path, tensors, { format: 'pt', note: 'x' });
  const headerBytes = Number(readFileSync(path).readBigUInt64LE(0));
  assert.equal(headerBytes % 8, 0);
  const back = readSafetensors(path);
  assert.deepEqual(back.get('a.f32')!.data, a);
  assert.deepEqual(back.get('a.f32')!.shape, [2, 2]);
  // expected values are torch's casts of 3e-3
  assert.deepEqual([...back.get('b.bf16')!.data], [1.5, -2.25, 0.0030059814453125, 0]);
  assert.deepEqual([...back.get('c.f16')!.data], [1.5, -2.25, 0.0030002593994140625, 0]);
  assert.deepEqual(back.get('d.scalar')!.shape, []);
  assert.equal(back.get('d.scalar')!.data[0], 7);
  assert.equal(back.get('e.empty')!.data.length, 0);
  assert.deepEqual(readSafetensorsHeader(path).metadata, { format: 'pt', note: 'x' });
});

test('integer tensors torch writes are read as their values', () => {
  const golden = readSafetensors(join(FIXTURES, 'goldens', 'mistral.safetensors'), { names: ['labels'] });
  const labels = golden.get('labels')!;
  assert.equal(labels.dtype, 'I64');
  assert.deepEqual(labels.shape, [2, 9]);
  assert.deepEqual([...labels.data.subarray(0, 3)], [-100, -100, -100]);
});

// A file with a hand-made header: `header` is the JSON text, `data` the bytes after it.
function rawFile(header: string, data: Uint8Array, headerLength?: number): string {
  const path = join(tempDir(), 'bad.safetensors');
  const json = Buffer.from(header, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  writeFileSync(path, Buffer.concat([length, json, data]));
  return path;
}

function expectError(path: string, pattern: RegExp, names?: string[]): void {
  assert.throws(
    () => readSafetensors(path, names ? { names } : {}),
    (error: unknown) => error instanceof RetuneError && error.message.startsWith(path) && pattern.test(error.message),
  );
}

const entry = (dtype: string, shape: number[], begin: number, end: number): object => ({ dtype, shape, data_offsets: [begin, end] });

test('corrupt files give an error naming the file and the tensor', () => {
  const eight = new Uint8Array(8);
  const good = (extra: object): string => JSON.stringify({ w: entry('F32', [2], 0, 8), ...extra });
  expectError(rawFile('', new Uint8Array(0)), /header is not valid JSON/);
  const short = join(tempDir(), 'short.safetensors');
  writeFileSync(short, Buffer.from([1, 2, 3]));
  expectError(short, /too short/);
  expectError(rawFile(good({}), eight, 1000), /header length 1000 runs past the end of the file/);
  expectError(rawFile('{"w": [1, 2', eight), /header is not valid JSON/);
  expectError(rawFile(good({ v: entry('F32', [2], 8, 16) }), eight), /tensor "v": data_offsets \[8, 16\] out of range/);
  expectError(rawFile(good({ v: entry('F32', [1], 4, 8) }), eight), /tensor "v": data overlaps tensor "w"/);
  expectError(rawFile(JSON.stringify({ q: entry('Q4', [2], 0, 8) }), eight), /tensor "q": unsupported dtype "Q4"/);
  const mismatch = /tensor "w": shape \[3\] of F32 needs 12 bytes but data_offsets span 8/;
  expectError(rawFile(JSON.stringify({ w: entry('F32', [3], 0, 8) }), eight), mismatch);
  expectError(rawFile(JSON.stringify({ w: { dtype: 'F32', shape: [2] } }), eight), /tensor "w": data_offsets undefined is not \[begin, end\]/);
  expectError(rawFile(JSON.stringify({ w: entry('F32', [-2], 0, 8) }), eight), /tensor "w": shape \[-2\] is not a list/);
  expectError(rawFile(good({ __metadata__: { step: 3 } }), eight), /__metadata__.step is not a string/);
  expectError(rawFile(good({}), eight), /tensor "model.norm.weight" is missing/, ['model.norm.weight']);
  expectError(join(tempDir(), 'absent.safetensors'), /cannot open \(ENOENT\)/);
});

test('a failed write leaves no file behind and an existing file intact', () => {
  const path = join(tempDir(), 'keep.safetensors');
  writeSafetensors(path, new Map([['w', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }]]));
  const before = readFileSync(path);
  assert.throws(
    () => writeSafetensors(path, new Map([['w', { dtype: 'F32', shape: [3], data: Float32Array.of(1) }]])),
    /tensor "w": shape \[3\] needs 3 values, got 1/,
  );
  assert.deepEqual(readFileSync(path), before);
});
