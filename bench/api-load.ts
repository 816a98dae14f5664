// A bounded load test of `retune api` on loopback: the server runs as its own process (as users start it) on the
// quickstart model, and a fetch-based driver sends a fixed number of streamed chat requests, CONCURRENCY at a time,
// within a time limit. Reports requests/s, time to first token (p50/p99), errors, and the server's RSS before, midway
// and after (flat RSS = no leak per request). EOS is banned so every request decodes MAX_TOKENS tokens.
// Run: node dist/bench/api-load.js
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REQUESTS = 96;
const CONCURRENCY = 8;
const MAX_TOKENS = 32;
const LIMIT_SECONDS = 120;

interface Outcome {
  ok: boolean;
  ttftMs: number;
  totalMs: number;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return kb / 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function oneRequest(url: string, i: number, deadline: number): Promise<Outcome> {
  const t0 = performance.now();
  let ttft = NaN;
  try {
    const res = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      body: JSON.stringify({
        model: 'tiny', stream: true, temperature: 0, max_tokens: MAX_TOKENS, logit_bias: { 707: -100 },
        messages: [{ role: 'user', content: `Once upon a time, story number ${i}` }],
      }),
    });
    if (res.status !== 200 || res.body === null) return { ok: false, ttftMs: NaN, totalMs: performance.now() - t0 };
    const decoder = new TextDecoder();
    let text = '';
    for await (const part of res.body) {
      text += decoder.decode(part, { stream: true });
      if (Number.isNaN(ttft) && text.includes('"content":"') && /"content":"[^"]/.test(text)) ttft = performance.now() - t0;
    }
    return { ok: text.endsWith('data: [DONE]\n\n') && !text.includes('"error"'), ttftMs: ttft, totalMs: performance.now() - t0 };
  } catch {
    return { ok: false, ttftMs: NaN, totalMs: performance.now() - t0 };
  }
}

async function startServer(config: string): Promise<{ url: string; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, ['bin/retune.js', 'api', config], { env: { ...process.env, API_PORT: '0', API_HOST: '127.0.0.1' } });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Retune API on (\S+)\/v1/.exec(out);
      if (m) resolve(`${m[1]}/v1/chat/completions`);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, pid: child.pid as number, stop: () => child.kill('SIGTERM') };
}

export async function benchApiLoad(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'retune-load-'));
  const config = join(dir, 'api.yaml');
  writeFileSync(config, 'model_name_or_path: examples/models/tiny-stories\ntemplate: empty\n');
  const server = await startServer(config);
  try {
    const deadline = Date.now() + LIMIT_SECONDS * 1000;
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => oneRequest(server.url, i, deadline))); // warm-up
    const rss = [rssMiB(server.pid)];
    const outcomes: Outcome[] = [];
    let next = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (next < REQUESTS && Date.now() < deadline) {
        const i = next++;
        outcomes.push(await oneRequest(server.url, i, deadline));
        if (outcomes.length === REQUESTS / 2) rss.push(rssMiB(server.pid));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - t0) / 1000;
    rss.push(rssMiB(server.pid));
    const ttft = outcomes.filter((o) => o.ok).map((o) => o.ttftMs).sort((a, b) => a - b);
    const errors = outcomes.filter((o) => !o.ok).length;
    return [
      `api load (loopback, ${REQUESTS} streamed chat requests, ${CONCURRENCY} at a time, ${MAX_TOKENS} tokens each, tiny-stories):`,
      `  ${outcomes.length} done in ${seconds.toFixed(1)} s: ${(outcomes.length / seconds).toFixed(1)} requests/s, ` +
        `${((outcomes.length - errors) * MAX_TOKENS / seconds).toFixed(0)} tokens/s; errors ${errors}`,
      `  time to first token: p50 ${percentile(ttft, 50).toFixed(0)} ms, p99 ${percentile(ttft, 99).toFixed(0)} ms`,
      `  server RSS: ${rss.map((r) => r.toFixed(0)).join(' -> ')} MiB (after warm-up, midway, end)`,
    ];
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchApiLoad()) console.log(line);
