import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RetuneError } from '../../src/util/errors.js';
import { readSafetensors, writeSafetensors } from '../../src/model/safetensors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../src/util/write-atomic.js';
import { tempDir } from '../model/helpers.js';

test('writeFileAtomic writes every chunk in order and replaces an existing file', () => {
  const dir = tempDir();
  const path = join(dir, 'out.bin');
  writeFileSync(path, 'old contents that are longer than the new ones');
  writeFileAtomic(path, [Buffer.from('ab'), new Uint8Array(0), Uint8Array.of(0x63, 0x64)]);
  assert.equal(readFileSync(path, 'utf8'), 'abcd');
  writeJsonAtomic(join(dir, 'x.json'), { a: [1, 2] });
  assert.equal(readFileSync(join(dir, 'x.json'), 'utf8'), '{\n  "a": [\n    1,\n    2\n  ]\n}\n');
  assert.deepEqual(readdirSync(dir).sort(), ['out.bin', 'x.json']);
});

test('a write that fails part way leaves the earlier file intact and no temporary file behind', () => {
  const dir = tempDir();
  const path = join(dir, 'out.bin');
  writeFileSync(path, 'earlier');
  function* failing(): Generator<Uint8Array> {
    yield Buffer.from('partial');
    throw new Error('disk went away');
  }
  assert.throws(() => writeFileAtomic(path, failing()), /disk went away/);
  assert.equal(readFileSync(path, 'utf8'), 'earlier');
  assert.deepEqual(readdirSync(dir), ['out.bin']);
  assert.throws(() => writeFileAtomic(join(dir, 'missing', 'x.bin'), [Buffer.from('x')]), /ENOENT/);
});

test('writeSafetensors rejecting a bad tensor mid-file keeps the earlier weights', () => {
  const dir = tempDir();
  const path = join(dir, 'model.safetensors');
  const good = { dtype: 'F32' as const, shape: [2], data: Float32Array.of(1, 2) };
  writeSafetensors(path, new Map([['a', good]]));
  const before = readFileSync(path);
  const bad = { dtype: 'F32' as const, shape: [3], data: Float32Array.of(1, 2) };
  assert.throws(
    () => writeSafetensors(path, new Map([['a', good], ['b', bad]])),
    (e: unknown) => e instanceof RetuneError && /tensor "b": shape \[3\] needs 3 values, got 2/.test(e.message),
  );
  assert.deepEqual(readFileSync(path), before);
  assert.deepEqual(readSafetensors(path).get('a')!.data, good.data);
  assert.deepEqual(readdirSync(dir), ['model.safetensors']);
});
