// The Board's guards over HTTP: a foreign Host (DNS rebinding), a foreign Origin or a non-JSON POST (CSRF), a
// missing or wrong token, and paths escaping the root by `..` or a symlink are each refused with a 4xx, and nothing
// is read or written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBoard } from '../../../src/server/webui/server.js';
import { call, hostOf, openEvents, quickstartConfig, quickstartRoot, startBoard } from './board-helpers.js';

const root = quickstartRoot();
const outside = mkdtempSync(join(tmpdir(), 'retune-board-outside-'));
writeFileSync(join(outside, 'dataset_info.json'), '{"secret": {"file_name": "secret.json"}}');
symlinkSync(outside, join(root, 'escape'));
symlinkSync(join(outside, 'not-there.yaml'), join(root, 'dangling.yaml'));
const board = await startBoard(root);
const saveBody = (path: string) => ({ path, config: quickstartConfig() });

test.after(() => board.close());

test('a Host header other than the server\'s is refused (DNS rebinding)', async () => {
  for (const host of ['evil.example:' + hostOf(board).split(':')[1], `127.0.0.1:1`, 'localhost.evil.example']) {
    const r = await call(board, 'GET', '/api/info', undefined, { host });
    assert.equal(r.status, 421, host);
    assert.match(r.body.error, /is not this server's/);
  }
  const r = await call(board, 'POST', '/api/config/save', saveBody('x.yaml'), { host: 'evil.example' });
  assert.equal(r.status, 421);
  assert.equal(existsSync(join(root, 'x.yaml')), false);
  assert.equal((await call(board, 'GET', '/api/info', undefined, { host: `localhost:${hostOf(board).split(':')[1]}` })).status, 200);
});

test('a state-changing request from another origin, or not JSON, is refused and writes nothing (CSRF)', async () => {
  const foreign = await call(board, 'POST', '/api/config/save', saveBody('csrf.yaml'), { origin: 'http://evil.example' });
  assert.equal(foreign.status, 403);
  const crossSite = await call(board, 'POST', '/api/config/save', saveBody('csrf.yaml'), { 'sec-fetch-site': 'cross-site' });
  assert.equal(crossSite.status, 403);
  const form = await call(board, 'POST', '/api/config/save', saveBody('csrf.yaml'), { 'content-type': 'text/plain' });
  assert.equal(form.status, 415);
  assert.equal(existsSync(join(root, 'csrf.yaml')), false);
  const own = await call(board, 'POST', '/api/config/save', saveBody('own.yaml'));
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.equal(existsSync(join(root, 'own.yaml')), true);
});

test('paths escaping the root by .. or a symlink are refused, and nothing is read or written', async () => {
  for (const dir of ['..', '../' + outside.split('/').pop(), outside, 'escape', 'escape/.', 'data/../../x']) {
    const r = await call(board, 'GET', `/api/datasets?dir=${encodeURIComponent(dir)}`);
    assert.equal(r.status, 403, dir);
    assert.doesNotMatch(JSON.stringify(r.body), /secret/);
  }
  for (const path of ['../evil.yaml', 'escape/evil.yaml', 'dangling.yaml']) {
    const r = await call(board, 'POST', '/api/config/save', saveBody(path));
    assert.equal(r.status, 403, path);
  }
  const viaConfig = await call(board, 'POST', '/api/config/save', { path: 'ok.yaml', config: quickstartConfig({ output_dir: 'escape/out' }) });
  assert.equal(viaConfig.status, 403);
  assert.match(viaConfig.body.error, /output_dir escape\/out: outside the root/);
  const start = await call(board, 'POST', '/api/runs/start', { config: quickstartConfig({ output_dir: '../out' }) });
  assert.equal(start.status, 403);
  const model = await call(board, 'POST', '/api/runs/start', { config: quickstartConfig({ model_name_or_path: 'escape' }) });
  assert.equal(model.status, 403);
  assert.equal(existsSync(join(root, 'ok.yaml')), false);
  assert.equal(existsSync(join(outside, 'evil.yaml')), false);
  assert.equal(existsSync(join(outside, 'not-there.yaml')), false);
  assert.equal(existsSync(join(outside, 'out')), false);
});

test('with a token every request and event stream needs it: missing or wrong is 401, ?token= sets a cookie', async () => {
  const tokenRoot = quickstartRoot();
  mkdirSync(join(tokenRoot, 'saves'));
  const guarded = await startBoard(tokenRoot, { token: 'sesame-123' });
  try {
    assert.equal((await call(guarded, 'GET', '/api/info')).status, 401);
    assert.equal((await call(guarded, 'GET', '/api/info', undefined, { 'x-retune-token': 'wrong' })).status, 401);
    assert.equal((await call(guarded, 'GET', '/api/info', undefined, { cookie: 'retune_token=wrong' })).status, 401);
    const saved = await call(guarded, 'POST', '/api/config/save', { path: 't.yaml', config: quickstartConfig() });
    assert.equal(saved.status, 401);
    assert.equal(existsSync(join(tokenRoot, 't.yaml')), false);
    await assert.rejects(openEvents(guarded, '/api/runs/events?dir=saves'), /HTTP 401/);

    const opened = await call(guarded, 'GET', '/?token=sesame-123');
    assert.equal(opened.status, 503); // the page is not built in this root, but the token was accepted
    const cookie = String(opened.headers['set-cookie']);
    assert.match(cookie, /^retune_token=sesame-123; Path=\/; HttpOnly; SameSite=Strict/);
    assert.equal((await call(guarded, 'GET', '/api/info', undefined, { cookie: 'retune_token=sesame-123' })).status, 200);
    assert.equal((await call(guarded, 'GET', '/api/info', undefined, { 'x-retune-token': 'sesame-123' })).status, 200);
    const events = await openEvents(guarded, '/api/runs/events?dir=saves', { cookie: 'retune_token=sesame-123' });
    await events.waitFor((e) => e.type === 'status');
    events.close();
  } finally {
    await guarded.close();
  }
});

test('a non-loopback host generates a token and prints it in the URL; loopback needs none', () => {
  const open = createBoard({ host: '0.0.0.0', port: 7999, root: quickstartRoot() });
  assert.notEqual(open.guard.token, null);
  assert.match(open.url(), /^http:\/\/0\.0\.0\.0:7999\/\?token=[\w-]{20,}$/);
  assert.equal(board.guard.token, null);
});
