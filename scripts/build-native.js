// Builds the native kernels with node-gyp during `npm ci`. A failed build is not fatal: Retune then runs on the
// pure-TS reference backend and says so once at start. An addon already built from the same sources, for the same
// Node ABI and CPU architecture, is kept: the first `npx retune` in a clone runs this install script again, and a
// rebuild there cost ~30 s of the quickstart.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (process.env.RETUNE_SKIP_NATIVE === '1' || !existsSync('native/binding.gyp')) {
  process.exit(0);
}

const ADDON = 'native/build/Release/retune_native.node';
const STAMP = 'native/build/sources.sha256';

function sourcesHash() {
  const hash = createHash('sha256').update(`${process.versions.modules} ${process.arch} ${process.platform}\n`);
  const files = ['native/binding.gyp', ...readdirSync('native/src').sort().map((f) => join('native/src', f))];
  for (const file of files) hash.update(`${file}\n`).update(readFileSync(file));
  return hash.digest('hex');
}

const wanted = sourcesHash();
if (existsSync(ADDON) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === wanted) {
  process.stdout.write('retune: native addon up to date\n');
  process.exit(0);
}

// npm puts its bundled node-gyp on PATH for install scripts and names it in npm_config_node_gyp; run directly, we
// look for it next to this node's npm.
const prefix = join(dirname(process.execPath), '..');
const gypScript = [process.env.npm_config_node_gyp, join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')]
  .find((p) => p !== undefined && p.endsWith('.js') && existsSync(p));
const args = ['rebuild', '--directory', 'native'];
// Node's own headers, when installed beside it, spare node-gyp a download (there may be no network).
if (existsSync(join(prefix, 'include/node/node.h'))) args.push(`--nodedir=${prefix}`);

const result = gypScript !== undefined
  ? spawnSync(process.execPath, [gypScript, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (result.status !== 0) {
  process.stderr.write('retune: the native addon did not build; the pure-TS reference backend will be used.\n');
} else {
  writeFileSync(STAMP, `${wanted}\n`);
}
process.exit(0);
