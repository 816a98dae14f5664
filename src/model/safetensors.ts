// The safetensors format, read and written without any library: an 8-byte little-endian header length N, N bytes of
// JSON ({ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }), then the raw
// little-endian tensor bytes, with offsets relative to the end of the header. Every check here exists because a
// truncated download or a hand-edited file otherwise turns into garbage weights rather than an error.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { RetuneError } from '../util/errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './dtype.js';
import { writeFileAtomic } from '../util/write-atomic.js';

export type Dtype = 'F32' | 'BF16' | 'F16' | 'I64' | 'I32';
export type FloatDtype = 'F32' | 'BF16' | 'F16';

const ITEM_BYTES: Record<Dtype, number> = { F32: 4, BF16: 2, F16: 2, I64: 8, I32: 4 };
const FLOAT_DTYPES = new Set<Dtype>(['F32', 'BF16', 'F16']);

if (endianness() !== 'LE') throw new RetuneError('safetensors: this machine is big-endian; Retune reads little-endian files only');

// One tensor as read from disk. Float dtypes are widened to float32 in `data`; with `keepBf16` a BF16 tensor instead
// keeps its raw bits in `bf16` and `data` is empty (the frozen-weight layout of Tensor). Integer tensors are
// converted to float32 too: they only hold small counters and ids in the files we meet.
export interface StoredTensor {
  dtype: Dtype;
  shape: number[];
  data: Float32Array;
  bf16: Uint16Array | null;
}

// A tensor to write: float32 values converted to `dtype`, or raw 16-bit bits already in `dtype` (BF16/F16).
export interface TensorToWrite {
  dtype: FloatDtype;
  shape: number[];
  data: Float32Array | Uint16Array;
}

export interface HeaderEntry {
  dtype: Dtype;
  shape: number[];
  begin: number; // absolute byte offset in the file
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, HeaderEntry>;
  metadata: Record<string, string>;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function fail(path: string, what: string): never {
  throw new RetuneError(`${path}: ${what}`);
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function readExactly(fd: number, buffer: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) fail(path, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

function parseEntry(path: string, name: string, raw: unknown, dataStart: number, dataBytes: number): HeaderEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(path, `tensor "${name}": header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in ITEM_BYTES)) {
    fail(path, `tensor "${name}": unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(ITEM_BYTES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(path, `tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(path, `tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    fail(path, `tensor "${name}": data_offsets [${begin}, ${end}] out of range (data section holds ${dataBytes} bytes)`);
  }
  const expected = numel(shape) * ITEM_BYTES[dtype as Dtype];
  if (end - begin !== expected) {
    fail(path, `tensor "${name}": shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`);
  }
  return { dtype: dtype as Dtype, shape: shape.slice(), begin: dataStart + begin, end: dataStart + end };
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(path, '__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') fail(path, `__metadata__.${key} is not a string`);
    out[key] = value;
  }
  return out;
}

function checkNoOverlap(path: string, entries: Map<string, HeaderEntry>): void {
  const sorted = [...entries].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1];
    const [name, entry] = sorted[i];
    if (entry.begin < prev.end) fail(path, `tensor "${name}": data overlaps tensor "${prevName}"`);
  }
}

function readHeaderFd(fd: number, path: string): SafetensorsHeader {
  const fileBytes = fstatSync(fd).size;
  if (fileBytes < 8) fail(path, `file is ${fileBytes} bytes, too short for a safetensors header`);
  const lengthBytes = new Uint8Array(8);
  readExactly(fd, lengthBytes, 0, path);
  const headerBytes = Number(new DataView(lengthBytes.buffer).getBigUint64(0, true));
  if (headerBytes > fileBytes - 8) fail(path, `header length ${headerBytes} runs past the end of the file (${fileBytes} bytes)`);
  if (headerBytes > MAX_HEADER_BYTES) fail(path, `header length ${headerBytes} exceeds ${MAX_HEADER_BYTES} bytes`);
  const headerBuffer = new Uint8Array(headerBytes);
  readExactly(fd, headerBuffer, 8, path);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuffer));
  } catch (error) {
    fail(path, `header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(path, 'header is not a JSON object');
  const dataStart = 8 + headerBytes;
  const entries = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(path, raw);
    else entries.set(name, parseEntry(path, name, raw, dataStart, fileBytes - dataStart));
  }
  checkNoOverlap(path, entries);
  return { entries, metadata };
}

export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openFile(path);
  try {
    return readHeaderFd(fd, path);
  } finally {
    closeSync(fd);
  }
}

function openFile(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (error) {
    fail(path, `cannot open (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

// Reads a tensor's bytes straight into a typed array of its dtype: files are little-endian, as is every machine Node
// runs on that we support (checked below), so no per-element decoding is needed.
function readTensor(fd: number, path: string, entry: HeaderEntry, keepBf16: boolean): StoredTensor {
  const n = numel(entry.shape);
  const out: StoredTensor = { dtype: entry.dtype, shape: entry.shape, data: new Float32Array(0), bf16: null };
  const into = (array: Float32Array | Uint16Array | Int32Array | BigInt64Array): void =>
    readExactly(fd, new Uint8Array(array.buffer, array.byteOffset, array.byteLength), entry.begin, path);
  if (entry.dtype === 'F32') {
    out.data = new Float32Array(n);
    into(out.data);
  } else if (entry.dtype === 'BF16' || entry.dtype === 'F16') {
    const bits = new Uint16Array(n);
    into(bits);
    if (entry.dtype === 'BF16' && keepBf16) out.bf16 = bits;
    else out.data = entry.dtype === 'BF16' ? bf16ToF32(bits) : f16ToF32(bits);
  } else if (entry.dtype === 'I32') {
    const ints = new Int32Array(n);
    into(ints);
    out.data = Float32Array.from(ints);
  } else {
    const ints = new BigInt64Array(n);
    into(ints);
    out.data = Float32Array.from(ints, Number);
  }
  return out;
}

// Reads every tensor (or only `names`, each of which must exist) from one file. `floatsOnly` (weights) refuses integer
// tensors: their values would be taken as weights of absurd size rather than failing.
export function readSafetensors(
  path: string,
  opts: { keepBf16?: boolean; names?: Iterable<string>; floatsOnly?: boolean } = {},
): Map<string, StoredTensor> {
  const fd = openFile(path);
  try {
    const { entries } = readHeaderFd(fd, path);
    const names = opts.names ? [...opts.names] : [...entries.keys()];
    const out = new Map<string, StoredTensor>();
    for (const name of names) {
      const entry = entries.get(name);
      if (!entry) fail(path, `tensor "${name}" is missing`);
      if (opts.floatsOnly && !FLOAT_DTYPES.has(entry.dtype)) {
        fail(path, `tensor "${name}" is stored as ${entry.dtype}, an integer type; a weight must be F32, BF16 or F16`);
      }
      out.set(name, readTensor(fd, path, entry, opts.keepBf16 ?? false));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

function encode(name: string, tensor: TensorToWrite): Uint8Array {
  const n = numel(tensor.shape);
  if (tensor.data.length !== n) {
    throw new RetuneError(`tensor "${name}": shape [${tensor.shape.join(', ')}] needs ${n} values, got ${tensor.data.length}`);
  }
  let array: Float32Array | Uint16Array;
  if (tensor.dtype === 'F32') {
    if (!(tensor.data instanceof Float32Array)) throw new RetuneError(`tensor "${name}": F32 output needs float32 values`);
    array = tensor.data;
  } else if (tensor.data instanceof Uint16Array) {
    array = tensor.data;
  } else {
    array = tensor.dtype === 'BF16' ? f32ToBf16(tensor.data) : f32ToF16(tensor.data);
  }
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

// Writes like the reference implementation: tensors ordered by (dtype alignment descending, name), header padded with
// spaces to a multiple of 8 bytes. The file appears atomically: written beside the target, synced, then renamed, so a
// crash never leaves a half-written file under the real name.
export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  const order = [...tensors.keys()].sort((a, b) => {
    const byAlign = ITEM_BYTES[tensors.get(b)!.dtype] - ITEM_BYTES[tensors.get(a)!.dtype];
    return byAlign !== 0 ? byAlign : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of order) {
    const t = tensors.get(name)!;
    const bytes = numel(t.shape) * ITEM_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBuffer = Buffer.from(json, 'utf8');
  const lengthBuffer = Buffer.alloc(8);
  lengthBuffer.writeBigUInt64LE(BigInt(headerBuffer.length));

  // Encoded one tensor at a time, so a BF16 save never holds a second copy of the whole model.
  function* chunks(): Generator<Uint8Array> {
    yield lengthBuffer;
    yield headerBuffer;
    for (const name of order) yield encode(name, tensors.get(name)!);
  }
  writeFileAtomic(path, chunks());
}
