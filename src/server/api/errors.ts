// Errors in OpenAI's JSON shape ({ error: { message, type, param, code } }) with the status codes its clients expect:
// bad requests 400, a wrong key 401, an unknown route 404, a body too large 413, a busy server 429, our own faults
// 500. Anything thrown while handling a request becomes one of these; the server keeps serving.
import { QueueFullError } from '../../infer/scheduler.js';
import { UsageError } from '../../util/errors.js';

export interface OpenAiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const TYPES: Record<number, string> = {
  400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 405: 'invalid_request_error',
  413: 'invalid_request_error', 415: 'invalid_request_error', 429: 'rate_limit_error', 500: 'server_error',
};

// Fastify's own request errors (body parsing, size, media type) by code.
const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'the request body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'the request body is empty; send a JSON object'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'the request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'the Content-Length does not match the body'],
};

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QueueFullError) return new ApiError(429, err.message, null, 'server_busy');
  if (err instanceof UsageError) return new ApiError(400, err.message);
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code !== undefined && Object.hasOwn(FASTIFY_CODES, e.code)) {
    const [status, message] = FASTIFY_CODES[e.code];
    return new ApiError(status, `${message} (${e.message ?? e.code})`);
  }
  if (e instanceof SyntaxError || e.statusCode === 400) return new ApiError(400, `bad request: ${e.message ?? String(err)}`);
  return new ApiError(500, 'the server failed to handle the request', null, 'internal_error');
}

export function errorBody(err: ApiError): OpenAiError {
  return { error: { message: err.message, type: TYPES[err.status] ?? 'invalid_request_error', param: err.param, code: err.code } };
}
