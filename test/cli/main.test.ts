// The command dispatcher's process-level behaviour: a reader that goes away before the output is written.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

// Runs the CLI with its stdout pipe closed from the start, so its first write fails with EPIPE.
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/retune.js', ...args], { env: { ...process.env, RETUNE_DEBUG: '' } });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('output piped into a reader that quits (| head) ends the command quietly with exit 0', async () => {
  for (const args of [['help'], ['train', 'examples/quickstart.yaml', '--dry-run']]) {
    const { code, stderr } = await runWithClosedStdout(args);
    assert.equal(stderr, '', `retune ${args.join(' ')}`);
    assert.equal(code, 0, `retune ${args.join(' ')}`);
  }
});
