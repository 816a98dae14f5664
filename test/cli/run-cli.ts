// Runs `node bin/retune.js ...` from the repository root, as a user would, and captures what it prints.
import { spawnSync } from 'node:child_process';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// timeoutMs: 60 s unless a test runs a longer job.
export function runCli(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): CliResult {
  const result = spawnSync(process.execPath, ['bin/retune.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, RETUNE_DEBUG: '', ...opts.env },
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
