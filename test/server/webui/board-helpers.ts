// A Board over a temporary root holding a copy of the quickstart model and data (examples/), listening on a free
// loopback port, and requests to it as the page sends them (its own Host and Origin, JSON bodies).
import { cpSync, mkdtempSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBoard, type Board, type BoardOptions } from '../../../src/server/webui/server.js';

const REPO = resolve('.');

export function quickstartRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'retune-board-'));
  cpSync(join(REPO, 'examples/models/tiny-stories'), join(root, 'models/tiny-stories'), { recursive: true });
  cpSync(join(REPO, 'examples/data'), join(root, 'data'), { recursive: true });
  return root;
}

export async function startBoard(root: string, opts: Partial<BoardOptions> = {}): Promise<Board> {
  const board = createBoard({ host: '127.0.0.1', port: 0, root, webDir: join(root, 'no-web'), ...opts });
  await board.listen();
  return board;
}

export function hostOf(board: Board): string {
  return new URL(board.url()).host;
}

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, unknown>;
}

export async function call(
  board: Board, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {},
): Promise<Reply> {
  const host = hostOf(board);
  const base: Record<string, string> = { host, ...(method === 'POST' ? { origin: `http://${host}`, 'content-type': 'application/json' } : {}) };
  const r = await board.app.inject({
    method, url, headers: { ...base, ...headers }, payload: body === undefined ? undefined : JSON.stringify(body),
  });
  let parsed: unknown = r.body;
  try {
    parsed = JSON.parse(r.body);
  } catch {
    // text answers stay text
  }
  return { status: r.statusCode, body: parsed, headers: r.headers };
}

// The quickstart's training config in a form's shape, with a short run.
export function quickstartConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_name_or_path: 'models/tiny-stories', stage: 'sft', do_train: true, finetuning_type: 'lora', lora_rank: 4,
    dataset_dir: 'data', dataset: 'identity', template: 'chatml', cutoff_len: 64, max_samples: 40,
    output_dir: 'saves/run', logging_steps: 1, save_steps: 10, per_device_train_batch_size: 2,
    learning_rate: 2e-3, max_steps: 40, lr_scheduler_type: 'cosine', warmup_steps: 2, ...extra,
  };
}

export interface EventStream {
  events: { type: string; [key: string]: unknown }[];
  waitFor(pred: (e: { type: string; [key: string]: unknown }) => boolean, ms?: number): Promise<{ type: string; [key: string]: unknown }>;
  close(): void;
}

// A real SSE connection to the listening server.
export function openEvents(board: Board, path: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const url = new URL(path, board.url());
  return new Promise((resolveStream, reject) => {
    const req = httpRequest(url, { headers }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        reject(new Error(`events: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      const events: EventStream['events'] = [];
      const waiters: (() => void)[] = [];
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data !== undefined) events.push(JSON.parse(data.slice(6)));
        }
        waiters.splice(0).forEach((w) => w());
      });
      resolveStream({
        events,
        waitFor(pred, ms = 60_000) {
          return new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`no matching event in ${ms} ms`)), ms);
            const check = (): void => {
              const found = events.find(pred);
              if (found !== undefined) {
                clearTimeout(timer);
                ok(found);
              } else {
                waiters.push(check);
              }
            };
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

// Trains `config` through the Board and resolves once the run reports finished.
export async function trainToEnd(board: Board, config: Record<string, unknown>): Promise<void> {
  const started = await call(board, 'POST', '/api/runs/start', { config });
  if (started.status !== 201) throw new Error(`start: HTTP ${started.status} ${JSON.stringify(started.body)}`);
  const events = await openEvents(board, `/api/runs/events?dir=${encodeURIComponent(started.body.dir)}`);
  await events.waitFor((e) => e.type === 'status' && (e.summary as { state: string }).state === 'finished', 120_000);
  events.close();
}
