// `retune webui`: prints the URL it serves on (GRADIO_SERVER_PORT read like LLaMA-Factory), answers there, and ends
// with exit 0 on Ctrl-C; bad options are usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

test('retune webui prints its URL, serves the API there, and stops cleanly on SIGINT', async () => {
  const root = mkdtempSync(join(tmpdir(), 'retune-webui-cli-'));
  const child = spawn(process.execPath, ['bin/retune.js', 'webui', '--root', root], {
    env: { ...process.env, GRADIO_SERVER_PORT: '0' },
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Retune Board: (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('close', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  const info = await (await fetch(`${url}api/info`)).json() as { root: string; tokenRequired: boolean };
  assert.equal(info.tokenRequired, false);
  assert.match(out, new RegExp(`root ${info.root}`));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.kill('SIGINT');
  assert.equal(await closed, 0);
});

test('retune webui refuses a bad port or a config file with exit 2', () => {
  const port = runCli(['webui', '--port', 'http']);
  assert.equal(port.code, 2);
  assert.match(port.stderr, /--port must be 0\.\.65535, got http/);
  const cfg = runCli(['webui', 'cfg.yaml']);
  assert.equal(cfg.code, 2);
  assert.match(cfg.stderr, /takes no config file/);
});
