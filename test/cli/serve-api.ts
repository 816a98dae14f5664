// Starts `node bin/retune.js api ...` on an ephemeral loopback port, as a user would, and hands back an openai client
// for it; stop() ends the server with SIGTERM (its own way out) and waits for the exit.
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

export interface ServedApi {
  client: OpenAI;
  baseURL: string;
  stop(): Promise<number | null>;
}

export function serveApi(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ServedApi> {
  const child = spawn(process.execPath, ['bin/retune.js', 'api', ...args], {
    env: { ...process.env, RETUNE_DEBUG: '', API_HOST: '127.0.0.1', API_PORT: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`retune api did not start in time; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /Retune API on (http:\/\/\S+\/v1)/.exec(stdout);
      if (match === null) return;
      clearTimeout(timer);
      const baseURL = match[1];
      resolve({
        client: new OpenAI({ baseURL, apiKey: opts.env?.API_KEY || 'unused', maxRetries: 0 }),
        baseURL,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`retune api exited with ${code} before serving; stderr: ${stderr}`));
    });
  });
}
