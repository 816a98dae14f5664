// `retune <command> ...`: dispatch through the command table and turn failures into exit codes:
// 0 success, 1 RetuneError or any other runtime failure, 2 UsageError (bad input).
import { RetuneError, UsageError } from '../util/errors.js';
import { commands } from './commands.js';
import { commandHelp, overview } from './help.js';
import { runVersion } from './version.js';

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(overview(commands));
    return 0;
  }
  if (name === '--version' || name === '-V') return runVersion();
  const command = commands[name];
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)} (run retune help)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(name, command));
    return 0;
  }
  return command.run(rest);
}

function report(err: unknown): number {
  const debug = process.env.RETUNE_DEBUG === '1';
  const error = err instanceof Error ? err : new Error(String(err));
  // Failures of the system itself (ENOSPC, EACCES, ...) are runtime errors to report, not bugs in Retune.
  const system = (error as NodeJS.ErrnoException).syscall !== undefined;
  const known = error instanceof UsageError || error instanceof RetuneError || system;
  process.stderr.write(`retune: ${known ? 'error' : 'internal error'}: ${error.message}\n`);
  if (debug) process.stderr.write(`${error.stack ?? ''}\n`);
  else if (!known) process.stderr.write('retune: set RETUNE_DEBUG=1 to see the stack\n');
  return error instanceof UsageError ? 2 : 1;
}

// A reader that went away (`retune train cfg.yaml --dry-run | head`) ends the command quietly, as SIGPIPE ends
// other command-line tools, instead of an unhandled EPIPE crash. Checkpoints are written to survive a kill at any
// point, so this is safe mid-training too.
function exitWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}

export async function main(argv: string[]): Promise<number> {
  exitWhenStdoutCloses();
  try {
    return await dispatch(argv);
  } catch (err) {
    return report(err);
  }
}
