// Bundles the web UI (web/, TypeScript + TSX with Preact and uPlot) into dist/web/: index.html and assets/app.js +
// assets/app.css.
// Runs from `npm ci` (prepare), so users never run a build step and the page loads nothing from outside the server.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const out = 'dist/web';
mkdirSync(join(out, 'assets'), { recursive: true });
await build({
  entryPoints: { app: 'web/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync('web/index.html', join(out, 'index.html'));
if (process.argv.includes('--size')) {
  let total = 0;
  for (const name of ['index.html', 'assets/app.js', 'assets/app.css']) {
    const gz = gzipSync(readFileSync(join(out, name)), { level: 9 }).length;
    total += gz;
    console.log(`${name}: ${gz} bytes gzipped`);
  }
  console.log(`total: ${total} bytes gzipped`);
}
