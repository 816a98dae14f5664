// Two kinds of failure the CLI maps to exit codes: bad input from the user (2) and a failure while running (1).
// Messages name what is wrong and where (file, line, key, tensor), in one or two lines.

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export class RetuneError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'RetuneError';
  }
}
