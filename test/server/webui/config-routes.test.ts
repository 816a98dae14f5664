// Config routes over HTTP: the form's key metadata comes from the schema, validation gives each field the CLI's own
// message, YAML save writes the file `retune train` takes and load reads it back, a malformed upload is refused
// with the CLI's line:column message and changes nothing.
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyInfo } from '../../../src/config/keys.js';
import { configObject } from '../../../src/config/schema.js';
import { call, quickstartConfig, quickstartRoot, startBoard } from './board-helpers.js';

const root = quickstartRoot();
const repo = process.cwd();
const board = await startBoard(root); // works in root from here on
test.after(() => board.close());

function runCli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repo, 'bin/retune.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, RETUNE_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('key metadata covers every schema key once, grouped, with defaults, ranges and resume classes', async () => {
  const r = await call(board, 'GET', '/api/config/keys');
  assert.equal(r.status, 200);
  const keys = r.body.groups.flatMap((g: { keys: { key: string }[] }) => g.keys);
  assert.deepEqual(keys.map((k: { key: string }) => k.key).sort(), Object.keys(configObject.shape).sort());
  const byKey = new Map(keys.map((k: { key: string }) => [k.key, k]));
  const schemaInfo = keyInfo('learning_rate')!;
  assert.deepEqual(byKey.get('learning_rate'), {
    key: 'learning_rate', group: 'training', type: 'number', default: 5e-5, description: schemaInfo.description,
    min: 0, max: null, exclusiveMin: true, exclusiveMax: false, nullable: false, choices: null, resumeClass: 'schedule',
    ineffective: false, lfStatus: schemaInfo.lfStatus,
  });
  assert.deepEqual((byKey.get('finetuning_type') as { choices: string[] }).choices, ['lora', 'freeze', 'full']);
  assert.equal((byKey.get('lora_rank') as { resumeClass: string }).resumeClass, 'structural');
  assert.equal((byKey.get('fp16') as { ineffective: boolean }).ineffective, true);
  assert.deepEqual(r.body.groups.map((g: { name: string }) => g.name), ['model', 'data', 'finetuning', 'training', 'generating', 'export', 'resume']);
});

test('validation reports each bad field with the message the CLI prints after the file and line', async () => {
  const bad = { ...quickstartConfig(), learning_rate: 'fast', lora_rank: 0, mix_strategy: 'zip' };
  const r = await call(board, 'POST', '/api/config/validate', { config: bad });
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, false);
  const fields = new Map(r.body.fields.map((f: { key: string; message: string }) => [f.key, f.message]));
  const cfg = join(root, 'bad.yaml');
  for (const key of ['learning_rate', 'lora_rank', 'mix_strategy']) {
    writeFileSync(cfg, `${key}: ${JSON.stringify(bad[key as keyof typeof bad])}\n`);
    const cli = runCli(['train', cfg, '--dry-run']);
    assert.equal(cli.code, 2);
    assert.equal(cli.stderr, `retune: error: ${cfg}:1: ${fields.get(key)}\n`);
  }
  const cross = await call(board, 'POST', '/api/config/validate', { config: { ...quickstartConfig(), eval_strategy: 'steps' } });
  assert.deepEqual(cross.body.fields, [{ key: 'eval_strategy', message: 'eval_strategy: needs an eval split: set val_size or eval_dataset' }]);
  const ok = await call(board, 'POST', '/api/config/validate', { config: quickstartConfig() });
  assert.equal(ok.body.ok, true);
  assert.equal(ok.body.resolved.lora_alpha, 8);
  const start = await call(board, 'POST', '/api/runs/start', { config: bad });
  assert.equal(start.status, 400);
  assert.equal(start.body.fields.length, 3);
  assert.equal(existsSync(join(root, 'saves')), false);
});

test('save writes training_args.yaml form that retune train takes; load reads it back; a malformed file is refused', async () => {
  const saved = await call(board, 'POST', '/api/config/save', { path: 'configs/run.yaml', config: quickstartConfig() });
  assert.equal(saved.status, 404); // the folder must exist: nothing is created on the way
  const put = await call(board, 'POST', '/api/config/save', { path: 'run.yaml', config: quickstartConfig() });
  assert.equal(put.status, 200);
  assert.equal(put.body.path, 'run.yaml');
  const dry = runCli(['train', 'run.yaml', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /Training plan: fresh run/);
  const loaded = await call(board, 'POST', '/api/config/load', { path: 'run.yaml' });
  assert.equal(loaded.status, 200);
  assert.equal(loaded.body.config.learning_rate, 2e-3);
  assert.equal(loaded.body.config.dataset, 'identity');
  assert.deepEqual(loaded.body.fields, []);

  writeFileSync(join(root, 'broken.yaml'), 'learning_rate: 1e-4\n  bad: [\n');
  const before = readFileSync(join(root, 'broken.yaml'), 'utf8');
  const broken = await call(board, 'POST', '/api/config/load', { path: 'broken.yaml' });
  assert.equal(broken.status, 400);
  assert.match(broken.body.error, /broken\.yaml:\d+:\d+: /);
  assert.equal(readFileSync(join(root, 'broken.yaml'), 'utf8'), before);
  const notYaml = await call(board, 'POST', '/api/config/save', { path: 'run.txt', config: quickstartConfig() });
  assert.equal(notYaml.status, 400);
});
