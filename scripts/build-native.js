// Builds the native kernels with node-gyp during `npm ci`. A failed build is not fatal: Retune then runs on the
// pure-TS reference backend and says so once at start.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.env.RETUNE_SKIP_NATIVE === '1' || !existsSync('native/binding.gyp')) {
  process.exit(0);
}
const result = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (result.status !== 0) {
  process.stderr.write('retune: the native addon did not build; the pure-TS reference backend will be used.\n');
}
process.exit(0);
