import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { test } from 'node:test';
import { nativeAvailable } from '../../src/backend/index.js';
import { runCli } from './run-cli.js';

test('retune env reports versions, the backend, threads and CPU features', () => {
  const result = runCli(['env'], { env: { RETUNE_BACKEND: 'reference' } });
  assert.equal(result.code, 0);
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  assert.match(result.stdout, new RegExp(`^- Retune version: ${version.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(result.stdout, new RegExp(`^- Node\\.js version: ${process.version.replaceAll('.', '\\.')} `, 'm'));
  assert.match(result.stdout, new RegExp(`, ${cpus().length} logical cores$`, 'm'));
  assert.match(result.stdout, /^- Backend: reference, \d+ threads$/m);
  assert.match(result.stdout, /^- @huggingface\/tokenizers: \d+\.\d+\.\d+$/m);
  const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].trim().split(/\s+/) ?? [];
  const avx2 = flags.includes('avx2') ? 'avx2' : 'avx2 (no)';
  assert.match(result.stdout, new RegExp(`^- CPU features: .*\\b${avx2.replace(/[()]/g, '\\$&')}(,|$)`, 'm'));
});

test('retune env refuses arguments and a bad RETUNE_BACKEND with exit 2', () => {
  assert.equal(runCli(['env', 'extra']).code, 2);
  const bad = runCli(['env'], { env: { RETUNE_BACKEND: 'gpu' } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /RETUNE_BACKEND must be 'reference' or 'native', got 'gpu'/);
});

test('retune env names the kernel path and the bf16 kernel, and RETUNE_ISA picks a narrower one or is refused with exit 2',
  { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  const widest = runCli(['env'], { env: { RETUNE_BACKEND: 'native', RETUNE_ISA: '' } });
  assert.equal(widest.code, 0);
  const [, path, bf16] = widest.stdout.match(
    /^- Backend: native, \d+ threads, kernel path (\w+) \(widest this CPU runs\), bf16 products on (amx|avx512bf16|float32)$/m,
  ) ?? [];
  assert.ok(path !== undefined, widest.stdout);
  // amx and avx512bf16 run their own bf16 kernel (unless its self-check failed); narrower paths the float32 GEMM.
  assert.ok(bf16 === 'float32' || bf16 === path, `${path}: ${bf16}`);
  const forced = runCli(['env'], { env: { RETUNE_BACKEND: 'native', RETUNE_ISA: path } });
  assert.match(forced.stdout, new RegExp(`^- Backend: native, \\d+ threads, kernel path ${path} \\(RETUNE_ISA\\), bf16 products on ${bf16}$`, 'm'));
  if (path !== 'avx2' && path !== 'portable') {
    const narrow = runCli(['env'], { env: { RETUNE_BACKEND: 'native', RETUNE_ISA: 'avx2' } });
    assert.match(narrow.stdout, /^- Backend: native, \d+ threads, kernel path avx2 \(RETUNE_ISA\), bf16 products on float32$/m);
  }
  const bad = runCli(['env'], { env: { RETUNE_BACKEND: 'native', RETUNE_ISA: 'avx9' } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /RETUNE_ISA=avx9: expected one of .*\(the kernel paths this CPU runs\)/);
});
