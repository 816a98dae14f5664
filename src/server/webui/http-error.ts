// Errors the Board's routes throw: an HTTP status with the message the page shows. The CLI's own errors map too:
// bad input (UsageError) is 400, a failure while running (RetuneError) 422.
import { RetuneError, UsageError } from '../../util/errors.js';
import type { FieldError } from './api-types.js';

export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly fields?: FieldError[]) {
    super(message);
    this.name = 'HttpError';
  }
}

export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.statusCode;
  if (err instanceof UsageError) return 400;
  if (err instanceof RetuneError) return 422;
  const fastifyStatus = (err as { statusCode?: number }).statusCode;
  if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) return fastifyStatus;
  // Errors of the file system on a user's path (missing file, not a folder) are bad input, not a server fault.
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return 404;
  return 500;
}
