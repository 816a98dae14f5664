// Rough edges a new user meets: a run stopped before its final weights reached output_dir, output folders that
// cannot be written, a full disk during a save, a checkpoint file that does not parse, resume_from_checkpoint naming
// the wrong folder, a finished run under resume_policy checkpoint, and dataset files that are not UTF-8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashFile, verifyCheckpoint, type Manifest } from '../../src/train/checkpoint.js';
import { explain, FIXTURE, tempDir, train, writeConfig } from '../train/run-helpers.js';

const RESULT_FILES = ['adapter_config.json', 'adapter_model.safetensors', 'trainer_state.json'];

test('a run stopped before copying its final weights is finished by the next run, not "nothing to train"', async () => {
  const dir = tempDir('final');
  const cfg = writeConfig(dir);
  const out = join(dir, 'out');
  const first = await train(cfg);
  assert.equal(first.code, 0, explain(first));
  const finals = new Map(RESULT_FILES.map((f) => [f, readFileSync(join(out, f))]));
  // The state a kill leaves between the rename of checkpoint-10 and the copy into output_dir.
  for (const f of RESULT_FILES) rmSync(join(out, f));
  writeFileSync(join(out, 'adapter_config.json'), '{}');

  const dry = await train(cfg, ['--dry-run']);
  assert.equal(dry.code, 0, explain(dry));
  assert.match(dry.stdout, /lacks the final files of checkpoint-10 \(adapter_config\.json, adapter_model\.safetensors, trainer_state\.json\)/);
  assert.match(dry.stdout, /the run will write them from the checkpoint/);
  assert.equal(existsSync(join(out, 'adapter_model.safetensors')), false, 'a dry run wrote into output_dir');

  const again = await train(cfg);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /nothing to train: the run already reached 10 steps/);
  assert.match(again.stdout, /wrote them from the checkpoint, the run is complete/);
  for (const [f, bytes] of finals) assert.ok(readFileSync(join(out, f)).equals(bytes), `${f} differs from the first run's`);

  const done = await train(cfg);
  assert.equal(done.code, 0, explain(done));
  assert.match(done.stdout, /nothing to train/);
  assert.doesNotMatch(done.stdout, /lacks the final/);
});

test('output_dir that is a file, under a file, or not creatable: exit 2 naming the path, nothing raw', async () => {
  const dir = tempDir('outdir');
  const file = join(dir, 'taken');
  writeFileSync(file, 'x');
  const cfg = writeConfig(dir);
  // A dry run creates nothing, so it finds the third case (a location that takes no new folders, which mkdir reports
  // as ENOENT and Node's recursive mkdir loops on) only where the permission bits already forbid writing there.
  const cases: [string, RegExp, string[][]][] = [
    [file, new RegExp(`output_dir: ${file} is a file, not a folder; remove it or pick another output_dir`), [[], ['--dry-run']]],
    [join(file, 'out'), new RegExp(`output_dir: ${file}/out cannot be created because ${file} is a file, not a folder`),
      [[], ['--dry-run']]],
    ['/proc/retune-test/out', /output_dir: cannot (create \/proc\/retune-test: \/proc takes no new folders|write in \/proc: no permission)/, [[]]],
  ];
  for (const [outputDir, expected, variants] of cases) {
    for (const dryRun of variants) {
      const r = await train(cfg, [`output_dir=${outputDir}`, ...dryRun]);
      assert.equal(r.code, 2, explain(r));
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, /ENOENT|ENOTDIR|EEXIST|internal error/);
    }
  }
  assert.equal(readFileSync(file, 'utf8'), 'x');
});

test('export_dir that is a file exits 2 and leaves the file alone', () => {
  const dir = tempDir('exportdir');
  const file = join(dir, 'merged');
  writeFileSync(file, 'x');
  const r = spawnSync(process.execPath, ['bin/retune.js', 'export', `model_name_or_path=${FIXTURE}/model`,
    `export_dir=${file}`], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`export_dir: ${file} is a file, not a folder`));
  assert.equal(readFileSync(file, 'utf8'), 'x');
  assert.deepEqual(readdirSync(dir), ['merged']);
});

// A small tmpfs in a private mount namespace (unshare: as root, or where user namespaces are allowed) gives a real
// full disk and a real read-only file system; elsewhere these two cases cannot be made without privileges.
const canMount = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs tmpfs /tmp']).status === 0;


test('a full disk during a save names the checkpoint, keeps the previous one, removes its temporary folder', {
  skip: canMount ? false : 'needs unshare -rm to mount a small tmpfs',
}, () => {
  const dir = tempDir('enospc');
  const cfg = writeConfig(dir, { save_steps: 1 });
  const disk = join(dir, 'disk');
  mkdirSync(disk);
  // Fits the run's logs and one checkpoint (about 14 pages of 4 KiB), not two; the mount lives in the child only, so
  // the test reads the outcome through a copy made inside it.
  const copy = join(dir, 'copy');
  const r = spawnSync('unshare', ['-rm', 'sh', '-c',
    `mount -t tmpfs -o size=88k tmpfs "$1" && "$2" bin/retune.js train "$3" output_dir="$1/out"; s=$?; cp -r "$1/out" "$4"; exit $s`,
    'sh', disk, process.execPath, cfg, copy], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^retune: error: saving checkpoint-2 in ${disk}/out failed: the disk is full \\(ENOSPC\\); ` +
    `free some space, then run the same command again to resume \\(${disk}/out/checkpoint-1 is intact; the partial ` +
    '\\.tmp-checkpoint-2-\\d+ was removed\\)$', 'm'));
  assert.equal(verifyCheckpoint(join(copy, 'checkpoint-1')).ok, true);
  assert.deepEqual(readdirSync(copy).filter((n) => n.startsWith('.tmp') || n.startsWith('checkpoint-')), ['checkpoint-1']);
});

test('output_dir on a read-only file system exits 2 saying so', {
  skip: canMount ? false : 'needs unshare -rm to mount a read-only tmpfs',
}, () => {
  const dir = tempDir('erofs');
  const cfg = writeConfig(dir);
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$1" && "$2" bin/retune.js train "$3" "$4"',
    'sh', ro, process.execPath, cfg, `output_dir=${ro}/out`], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`output_dir: cannot write in ${ro}: the file system is read-only \\(EROFS\\)`));
});

test('a trainer_state.json that does not parse in a verifying checkpoint is named', async () => {
  const dir = tempDir('hfstate');
  const cfg = writeConfig(dir);
  const out = join(dir, 'out');
  assert.equal((await train(cfg, ['max_steps=4'])).code, 0);
  const ckpt = join(out, 'checkpoint-4');
  const broken = join(ckpt, 'trainer_state.json');
  writeFileSync(broken, '{"log_history": [');
  const manifestPath = join(ckpt, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const entry = manifest.files.find((e) => e.path === 'trainer_state.json')!;
  entry.size = readFileSync(broken).length;
  entry.sha256 = hashFile(broken);
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const r = await train(cfg, ['max_steps=6']);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, new RegExp(`^retune: error: ${broken} does not parse \\(.*\\); resume from another checkpoint`, 'm'));
  assert.doesNotMatch(r.stderr, /internal error/);
});

test('resume_from_checkpoint: a missing path and a model folder exit 2 saying what is wrong', async () => {
  const dir = tempDir('resumepath');
  const cfg = writeConfig(dir);
  const missing = await train(cfg, [`resume_from_checkpoint=${dir}/nope`]);
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, new RegExp(`resume_from_checkpoint: ${dir}/nope is not a folder`));
  const model = await train(cfg, [`resume_from_checkpoint=${FIXTURE}/model`]);
  assert.equal(model.code, 2, explain(model));
  assert.match(model.stderr, new RegExp(`resume_from_checkpoint: ${FIXTURE}/model is not a checkpoint folder \\(no ` +
    'manifest\\.json\\); to start from the weights of a model or adapter folder, set model_name_or_path or adapter_name_or_path'));
  assert.doesNotMatch(model.stderr, /did not finish/);
});

test('a finished run with a raised max_steps under resume_policy checkpoint says the policy keeps the old value', async () => {
  const dir = tempDir('policy');
  const cfg = writeConfig(dir, { max_steps: 4 });
  assert.equal((await train(cfg)).code, 0);
  const r = await train(cfg, ['max_steps=6', 'resume_policy=checkpoint']);
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /nothing to train: the run already reached 4 steps; resume_policy checkpoint keeps the checkpoint's max_steps; set resume_policy config to continue with the new value/);
  assert.doesNotMatch(r.stdout, /raise num_train_epochs or max_steps/);
});

test('invalid UTF-8 in a dataset file is warned about once, with file and line', async () => {
  const dir = tempDir('utf8');
  const data = join(dir, 'data');
  cpSync(join(FIXTURE, 'data'), data, { recursive: true });
  const file = join(data, 'animals.json');
  // Lines 5 and 10 get two bytes that are not UTF-8 inside a string.
  const lines = readFileSync(file, 'utf8').split('\n').map((l) => Buffer.from(l));
  for (const i of [4, 9]) {
    const quote = lines[i].lastIndexOf('"');
    lines[i] = Buffer.concat([lines[i].subarray(0, quote), Buffer.from([0xff, 0xfe]), lines[i].subarray(quote)]);
  }
  writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
  const cfg = writeConfig(dir, { dataset_dir: data });
  const r = await train(cfg, ['--dry-run']);
  assert.equal(r.code, 0, explain(r));
  const warnings = r.stderr.split('\n').filter((l) => /UTF-8/.test(l));
  assert.deepEqual(warnings, [`retune: warning: ${file}:5: invalid UTF-8 (2 lines in all); the bad bytes were replaced with U+FFFD`]);
});
