// The Board's guards, run before every route. It trains, writes files and runs processes for whoever reaches it, so:
// - the Host header must name this server (a page on another site that rebinds its DNS name to 127.0.0.1 sends its
//   own name, and is refused);
// - a state-changing request must come from the page's own origin (another site's form or script in the same
//   browser is refused: CSRF), and carry JSON, which a cross-site form cannot send without a preflight;
// - on a non-loopback host every request carries the access token (cookie set from ?token=..., or a header).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './http-error.js';

export const TOKEN_COOKIE = 'retune_token';
export const TOKEN_HEADER = 'x-retune-token';

export interface Guard {
  token: string | null;
  check(request: FastifyRequest, reply: FastifyReply): void; // throws HttpError; may set the token cookie
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

export function newToken(): string {
  return randomBytes(18).toString('base64url');
}

// Host names a browser may use to reach a server bound to `host`. A wildcard bind answers on every interface: its
// addresses and this machine's name are accepted, never an arbitrary domain (that is what a rebinding attack sends).
function allowedHostnames(host: string): Set<string> {
  const names = new Set<string>();
  const add = (h: string): void => {
    names.add(h.replace(/^\[|\]$/g, '').toLowerCase());
  };
  add(host);
  if (isLoopback(host) || isWildcard(host)) ['localhost', '127.0.0.1', '::1'].forEach(add);
  if (isWildcard(host)) {
    add(hostname());
    for (const list of Object.values(networkInterfaces())) for (const net of list ?? []) add(net.address);
  }
  return names;
}

function splitHost(header: string): { name: string; port: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(header.trim());
  if (m === null) return { name: '', port: '' };
  return { name: m[1].replace(/^\[|\]$/g, '').toLowerCase(), port: m[2] ?? '80' };
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createGuard(opts: { host: string; port: () => number; token: string | null }): Guard {
  const names = allowedHostnames(opts.host);
  const token = opts.token;
  return {
    token,
    check(request, reply) {
      const hostHeader = request.headers.host ?? '';
      const { name, port } = splitHost(hostHeader);
      if (!names.has(name) || port !== String(opts.port())) {
        throw new HttpError(421, `Host ${JSON.stringify(hostHeader)} is not this server's; open the URL retune webui printed`);
      }
      if (!SAFE_METHODS.has(request.method)) {
        const origin = request.headers.origin;
        if (origin !== undefined && origin !== `http://${hostHeader}`) {
          throw new HttpError(403, `requests from ${origin} are refused: only the Board's own page may change things`);
        }
        if (request.headers['sec-fetch-site'] === 'cross-site') throw new HttpError(403, 'cross-site requests are refused');
        const type = request.headers['content-type'] ?? '';
        if (!type.startsWith('application/json')) throw new HttpError(415, 'POST bodies must be application/json');
      }
      if (token === null) return;
      const query = (request.query as Record<string, unknown> | undefined)?.token;
      const given = typeof query === 'string' ? query
        : (request.headers[TOKEN_HEADER] as string | undefined) ?? cookieValue(request.headers.cookie, TOKEN_COOKIE);
      if (given === null || given === undefined || !sameSecret(given, token)) {
        throw new HttpError(401, 'access token missing or wrong: open the URL with ?token=... that retune webui printed');
      }
      if (typeof query === 'string') {
        reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`);
      }
    },
  };
}
