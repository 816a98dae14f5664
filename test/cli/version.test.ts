import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli } from './run-cli.js';

test('retune version and --version print the package version', () => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  for (const args of [['version'], ['--version'], ['-V']]) {
    const result = runCli(args);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `retune ${version}\n`);
  }
});

test('webui says it is not available yet and exits 2', () => {
  const webui = runCli(['webui']);
  assert.equal(webui.code, 2);
  assert.equal(webui.stdout, '');
  assert.match(webui.stderr, /^retune: error: webui: the web UI is not available yet/);
});
