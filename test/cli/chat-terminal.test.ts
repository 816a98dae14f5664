// The interactive chat at a real terminal: `script` (util-linux) runs `retune chat` on a pseudo-terminal, and the
// test types at the prompt like a user, waiting for each "User: " prompt before the next line. Skipped where
// `script` is not installed.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const SCRIPT = '/usr/bin/script';
const fixtures = 'test/fixtures/cli';
const golden = JSON.parse(readFileSync(join(fixtures, 'chat-golden.json'), 'utf8')) as {
  questions: [string, string]; max_new_tokens: number; base: { first: string; second: string; fresh_second: string };
};
const [first, second] = golden.questions;
const command = [
  process.execPath, 'bin/retune.js', 'chat', `model_name_or_path=${fixtures}/chat-model`, 'template=chatml',
  'do_sample=false', `max_new_tokens=${golden.max_new_tokens}`,
].map((word) => `'${word}'`).join(' ');

// Types each key sequence after the next "User: " prompt appears; resolves with the exit code and what the
// terminal showed, without colour and cursor codes or carriage returns.
function typeAtPrompts(keys: string[]): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], { env: { ...process.env, RETUNE_DEBUG: '' } });
    let screen = '';
    let prompts = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chat did not finish; the terminal showed:\n${screen}`));
    }, 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString('utf8');
      const seen = screen.split('User: ').length - 1;
      while (prompts < seen) {
        if (prompts < keys.length) child.stdin.write(keys[prompts]);
        prompts++;
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen: screen.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '') });
    });
  });
}

test('chat at a terminal: prompts, streamed greedy replies with history, /clear and /exit', { skip: !existsSync(SCRIPT) && 'script not installed' }, async () => {
  const { code, screen } = await typeAtPrompts([`${first}\r`, `${second}\r`, '/clear\r', `${second}\r`, '/exit\r']);
  assert.equal(code, 0, screen);
  assert.match(screen, /^Chat with the model: \/clear forgets the history, \/exit ends\./);
  const replies = [...screen.matchAll(/Assistant: (.*)\n/g)].map((m) => m[1]);
  assert.deepEqual(replies, [golden.base.first, golden.base.second, golden.base.fresh_second], screen);
});

test('chat at a terminal: Ctrl-C at the prompt ends the chat like /exit', { skip: !existsSync(SCRIPT) && 'script not installed' }, async () => {
  const { code, screen } = await typeAtPrompts([`${first}\r`, '\x03']);
  assert.equal(code, 0, screen);
  assert.deepEqual([...screen.matchAll(/Assistant: (.*)\n/g)].map((m) => m[1]), [golden.base.first], screen);
});
