// Chat over HTTP: a loaded model answers through the inference layer `retune chat` uses (the streamed reply equals
// the CLI's greedy reply), Stop ends a reply being generated, Unload lets the model go, and a model path outside
// the root is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Board } from '../../../src/server/webui/server.js';
import { call, hostOf, quickstartConfig, quickstartRoot, startBoard, trainToEnd } from './board-helpers.js';

const repo = process.cwd();
const root = quickstartRoot();
const board = await startBoard(root);
test.after(() => board.close());

type ChatEvent = { type: string; text?: string; stopped?: boolean; error?: string };

// POSTs a reply request and reads its event stream to the end; `onEvent` sees each event as it arrives.
function reply(b: Board, body: unknown, onEvent: (e: ChatEvent) => void = () => undefined): Promise<ChatEvent[]> {
  const host = hostOf(b);
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL('/api/chat/reply', b.url()), {
      method: 'POST', headers: { 'content-type': 'application/json', origin: `http://${host}` },
    }, (res) => {
      const events: ChatEvent[] = [];
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer.slice(0, end).split('\n').find((l) => l.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (data === undefined) continue;
          const event = JSON.parse(data.slice(6)) as ChatEvent;
          events.push(event);
          onEvent(event);
        }
      });
      res.on('end', () => resolve(events));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('a loaded model streams the reply retune chat gives, stops on request, and unloads', async () => {
  assert.equal((await call(board, 'POST', '/api/chat/reply', { messages: [{ role: 'user', content: 'hi' }] })).status, 409);
  const loaded = await call(board, 'POST', '/api/chat/load', { model_name_or_path: 'models/tiny-stories', template: 'chatml' });
  assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  assert.deepEqual(loaded.body, { loaded: true, busy: false, model: 'models/tiny-stories', adapters: [], template: 'chatml' });

  const question = 'Tell me a story about a cat.';
  const events = await reply(board, { messages: [{ role: 'user', content: question }], do_sample: false, max_new_tokens: 24 });
  const done = events[events.length - 1];
  assert.equal(done.type, 'done');
  assert.equal(events.filter((e) => e.type === 'token').map((e) => e.text).join(''), done.text);
  writeFileSync(join(root, 'chat.yaml'), 'model_name_or_path: models/tiny-stories\ntemplate: chatml\ndo_sample: false\nmax_new_tokens: 24\n');
  const cli = spawnSync(process.execPath, [join(repo, 'bin/retune.js'), 'chat', 'chat.yaml', '--prompt', question], { cwd: root, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(`${done.text}\n`, cli.stdout);

  let asked = false;
  const stopped = await reply(board, {
    // A hot sampler (fixed seed) keeps the reply far from an early EOS, so the stop request is what ends it.
    messages: [{ role: 'user', content: question }], do_sample: true, temperature: 5, max_new_tokens: 400,
  }, (e) => {
    if (e.type === 'token' && !asked) {
      asked = true;
      void call(board, 'POST', '/api/chat/stop', {});
    }
  });
  const last = stopped[stopped.length - 1];
  assert.equal(last.type, 'done');
  assert.equal(last.stopped, true);
  assert.ok(stopped.filter((e) => e.type === 'token').length < 400);

  const unloaded = await call(board, 'POST', '/api/chat/unload', {});
  assert.equal(unloaded.body.loaded, false);
  assert.equal((await call(board, 'POST', '/api/chat/reply', { messages: [{ role: 'user', content: 'hi' }] })).status, 409);
});

test('chat refuses a model outside the root and a run dir without weights', async () => {
  const outside = await call(board, 'POST', '/api/chat/load', { model_name_or_path: '../tiny-stories' });
  assert.equal(outside.status, 403);
  const notRun = await call(board, 'POST', '/api/chat/load', { dir: 'data' });
  assert.equal(notRun.status, 400);
  assert.match(notRun.body.error, /not a run's output dir/);
  assert.equal((await call(board, 'GET', '/api/chat')).body.loaded, false);
});

test('a run\'s output dir loads as its model, template and trained adapter', async () => {
  await trainToEnd(board, quickstartConfig({ output_dir: 'saves/chat', max_steps: 2 }));
  const loaded = await call(board, 'POST', '/api/chat/load', { dir: 'saves/chat' });
  assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  assert.deepEqual(loaded.body, { loaded: true, busy: false, model: 'models/tiny-stories', adapters: ['saves/chat'], template: 'chatml' });
  const answer = await reply(board, { messages: [{ role: 'user', content: 'hi' }], do_sample: false, max_new_tokens: 8 });
  assert.equal(answer[answer.length - 1].type, 'done');
  await call(board, 'POST', '/api/chat/unload', {});
});
