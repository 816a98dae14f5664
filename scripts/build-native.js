// Builds the native kernels with node-gyp during `npm ci`. A failed build is not fatal: Retune then runs on the
// pure-TS reference backend and says so once at start.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (process.env.RETUNE_SKIP_NATIVE === '1' || !existsSync('native/binding.gyp')) {
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
}
process.exit(0);
