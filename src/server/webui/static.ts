// The built page: dist/web/index.html and its assets, as the front end's esbuild step writes them. Only files inside
// that folder are served; without a build the page says how to make one.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './http-error.js';

export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
  '.woff2': 'font/woff2', '.map': 'application/json',
};

const NOT_BUILT = 'The Retune Board page is not built (dist/web/index.html is missing).\n' +
  'Run `npm ci` (or `npm run build`) in the Retune folder, then reload. The JSON API under /api/ works without it.\n';

// Gzipped once per file version: the page is a few text files that every browser accepts compressed (45 KB instead of
// 114 KB on the wire).
const gzipped = new Map<string, { mtimeMs: number; bytes: Buffer }>();

function sendFile(request: FastifyRequest, reply: FastifyReply, path: string, type: string): FastifyReply {
  reply.type(type).header('vary', 'accept-encoding');
  if (!/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return reply.send(readFileSync(path));
  const { mtimeMs } = statSync(path);
  let cached = gzipped.get(path);
  if (cached === undefined || cached.mtimeMs !== mtimeMs) {
    cached = { mtimeMs, bytes: gzipSync(readFileSync(path)) };
    gzipped.set(path, cached);
  }
  return reply.header('content-encoding', 'gzip').send(cached.bytes);
}

export function staticRoutes(app: FastifyInstance, webDir: string): void {
  const index = join(webDir, 'index.html');
  app.get('/', async (request, reply) => {
    if (!existsSync(index)) return reply.code(503).type('text/plain; charset=utf-8').send(NOT_BUILT);
    return sendFile(request, reply.header('cache-control', 'no-cache'), index, TYPES['.html']);
  });
  app.get('/assets/*', async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    const root = existsSync(webDir) ? realpathSync(webDir) : webDir;
    const file = join(root, 'assets', rest);
    const real = existsSync(file) ? realpathSync(file) : null;
    if (real === null || relative(root, real).split(sep)[0] === '..' || !statSync(real).isFile()) {
      throw new HttpError(404, `no such asset: ${rest}`);
    }
    return sendFile(request, reply, real, TYPES[extname(real)] ?? 'application/octet-stream');
  });
}
