// The OpenAI-compatible HTTP server over one inference engine: routes, bearer-key check, and one error handler that
// turns anything thrown into OpenAI's error JSON (the server keeps serving). Started by `retune api`; tests and
// benchmarks start it on an ephemeral loopback port.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { UsageError } from '../../util/errors.js';
import { chatCompletions } from './chat-completions.js';
import type { ApiContext } from './choices.js';
import { completions } from './completions.js';
import { ApiError, errorBody, toApiError } from './errors.js';

export interface ApiServerOptions {
  apiKey?: string | null; // when set, every request needs `Authorization: Bearer <key>`
  bodyLimit?: number; // bytes (default 4 MiB)
  log?: (line: string) => void; // unexpected failures (default: stderr)
}

export function createApiServer(ctx: ApiContext, opts: ApiServerOptions = {}): FastifyInstance {
  const app = Fastify({ bodyLimit: opts.bodyLimit ?? 4 * 1024 * 1024, logger: false });
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const key = opts.apiKey ?? null;

  app.addHook('onRequest', async (request) => {
    if (key !== null && !bearerMatches(request.headers.authorization, key)) {
      throw new ApiError(401, 'missing or incorrect API key: send Authorization: Bearer <API_KEY>', null, 'invalid_api_key');
    }
  });
  app.setErrorHandler((err, _request, reply) => {
    const apiError = toApiError(err);
    if (apiError.status >= 500) log(`retune api: ${(err as Error).stack ?? String(err)}`);
    if (reply.sent || reply.raw.headersSent) return;
    void reply.status(apiError.status).send(errorBody(apiError));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(errorBody(new ApiError(404, `no route ${request.method} ${request.url}; see GET /v1/models, POST /v1/chat/completions, POST /v1/completions`)));
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: ctx.modelName, object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'owner' }],
  }));
  app.post('/v1/chat/completions', (request, reply) => chatCompletions(ctx, request, reply));
  app.post('/v1/completions', (request, reply) => completions(ctx, request, reply));
  return app;
}

function bearerMatches(header: string | undefined, key: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${key}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

// A server reachable from other machines must have a key.
export function checkExposure(host: string, apiKey: string | null): void {
  if (!isLoopback(host) && (apiKey === null || apiKey === '')) {
    throw new UsageError(`API_HOST=${host} accepts connections from other machines, and no API_KEY is set; ` +
      'set one (e.g. API_KEY=$(openssl rand -hex 16)) so clients must send Authorization: Bearer <key>, ' +
      'or leave API_HOST unset to listen on 127.0.0.1 only');
  }
}
