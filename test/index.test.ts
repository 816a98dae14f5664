// The package as another project sees it: `npm pack` the repository, install the tarball into a scratch project
// (offline: `npm ci` from the npm cache, with a lockfile pinning the dependencies to this repository's lockfile;
// RETUNE_SKIP_NATIVE=1 skips the addon build, so the installed copy runs on the reference backend and the test stays
// quick), then import 'retune' from an ESM script and use the public API.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const REPO = resolve('.');

interface LockEntry {
  dev?: boolean;
  [key: string]: unknown;
}

// The scratch project's package-lock.json: retune from the tarball, its dependencies as this repository locks them.
function scratchLock(tarball: string): string {
  const repoLock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const root = repoLock.packages[''];
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { retune: `file:${tarball}` } },
    'node_modules/retune': {
      version: root.version, resolved: `file:${tarball}`, hasInstallScript: true, license: root.license,
      dependencies: root.dependencies, bin: root.bin, engines: root.engines,
    },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path === '' || entry.dev) continue;
    // Entries written without `resolved` would make npm ask the registry; the cache holds the tarball under this URL.
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${String(entry.version)}.tgz`;
    packages[path] = { ...entry, resolved };
  }
  return JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2);
}

const SCRIPT = `
import { chat, loadConfig, loadModel, train, UsageError } from 'retune';
const repo = process.argv[2];
const out = process.argv[3];
const model = await loadModel(repo + '/examples/models/tiny-stories', { template: 'chatml' });
const ids = model.tokenizer.encode('Once upon a time', { addSpecialTokens: false });
const logits = model.forward(ids);
const tokens = [];
for await (const t of model.generate(ids, { maxNewTokens: 6, temperature: 0 })) tokens.push(t);
const text = [];
for await (const t of model.generate('Once upon a time', { maxNewTokens: 6, temperature: 0 })) text.push(t.text);
const reply = await chat(model, [{ role: 'user', content: 'Who are you?' }], { maxNewTokens: 8, temperature: 0 });
let refused = '';
try { model.loss([1, 2], [1]); } catch (err) { refused = err instanceof UsageError ? err.message : String(err); }
const loaded = loadConfig(repo + '/examples/quickstart.yaml', [
  'model_name_or_path=' + repo + '/examples/models/tiny-stories', 'dataset_dir=' + repo + '/examples/data',
  'output_dir=' + out, 'max_steps=2', 'logging_steps=1', 'max_samples=16', 'plot_loss=false',
]);
const lines = [];
const metrics = await train(loaded, { onLog: (line) => lines.push(line) });
console.log(JSON.stringify({
  shape: logits.shape, finite: logits.data.every(Number.isFinite), loss: model.loss(ids, ids), tokens,
  text: text.join(''), reply: reply.text, finish: reply.finishReason, refused, metrics, logged: lines.length,
}));
`;

test('npm pack + install: import { loadModel, chat, train, loadConfig } from "retune" works in another project', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-pack-'));
  try {
    // dist/ is already built by the test run, so packing skips `prepare`.
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO, stdio: 'pipe' });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz')) as string;
    const project = join(dir, 'app');
    mkdirSync(project);
    execFileSync('mv', [join(dir, tarball), project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { retune: `file:${tarball}` } }));
    writeFileSync(join(project, 'package-lock.json'), scratchLock(tarball));
    writeFileSync(join(project, 'main.mjs'), SCRIPT);
    execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
      cwd: project, stdio: 'pipe', env: { ...process.env, RETUNE_SKIP_NATIVE: '1' },
    });
    const installed = join(project, 'node_modules/retune');
    assert.ok(existsSync(join(installed, 'dist/src/index.d.ts')), 'the type declarations ship');
    assert.ok(existsSync(join(installed, 'native/binding.gyp')) && existsSync(join(installed, 'scripts/build-native.js')));
    assert.ok(!existsSync(join(installed, 'dist/test')), 'tests are not shipped');

    const stdout = execFileSync(process.execPath, ['main.mjs', REPO, join(dir, 'run')], {
      cwd: project, encoding: 'utf8', env: { ...process.env, RETUNE_THREADS: '2' },
    });
    const r = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    assert.deepEqual(r.shape, [1, 4, 712]);
    assert.ok(r.finite);
    assert.ok(r.loss > 0 && r.loss < 10, `loss ${r.loss}`);
    assert.equal(r.tokens.length, 6);
    assert.ok(r.tokens.every((t: { id: number }) => Number.isInteger(t.id)));
    assert.ok(r.text.length > 0);
    assert.equal(typeof r.reply, 'string');
    assert.match(r.refused, /labels/);
    assert.equal(r.metrics.globalStep, 2);
    assert.equal(r.metrics.totalSteps, 2);
    assert.ok(r.metrics.loss > 0, 'the final logged loss is reported');
    assert.ok(r.logged > 0, 'train() handed its log lines to onLog');
    assert.ok(existsSync(join(dir, 'run', 'adapter_model.safetensors')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
