import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { test } from 'node:test';
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
