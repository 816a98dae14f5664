// What the Board tells the page about itself (the stages the form offers come from the schema, and only those that
// train can be chosen) and how it serves the built page (gzipped to browsers that accept it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import type { InfoResponse } from '../../../src/server/webui/api-types.js';
import { call, quickstartRoot, startBoard } from './board-helpers.js';

const board = await startBoard(quickstartRoot());
test.after(() => board.close());

test('/api/info lists every stage of the schema, with ppo the only one that cannot be chosen', async () => {
  const info = await call(board, 'GET', '/api/info');
  assert.equal(info.status, 200);
  assert.deepEqual((info.body as InfoResponse).stages, [
    { name: 'pt', available: true }, { name: 'sft', available: true }, { name: 'rm', available: true },
    { name: 'ppo', available: false }, { name: 'dpo', available: true }, { name: 'kto', available: true },
  ]);
});

test('the built page is served gzipped when the client accepts it, plain otherwise', async () => {
  const root = quickstartRoot();
  const web = join(root, 'web-build');
  mkdirSync(join(web, 'assets'), { recursive: true });
  const script = `console.log(${JSON.stringify('retune '.repeat(500))});\n`;
  writeFileSync(join(web, 'index.html'), '<!doctype html><script src="/assets/app.js"></script>\n');
  writeFileSync(join(web, 'assets', 'app.js'), script);
  const served = await startBoard(root, { webDir: web });
  try {
    const zipped = await fetch(`${served.url()}assets/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    assert.equal(await zipped.text(), script); // fetch decompresses
    const plain = await new Promise<{ encoding: string | undefined; text: string }>((resolve, reject) => {
      get(`${served.url()}assets/app.js`, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], text }));
      }).on('error', reject);
    });
    assert.equal(plain.encoding, undefined);
    assert.equal(plain.text, script);
  } finally {
    await served.close();
  }
});
