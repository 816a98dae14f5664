// One `retune <command> ...` child process of the Board: started in the root (config paths are relative to it) in its
// own process group, so a Ctrl-C at the server's terminal reaches it only through the server's orderly SIGTERM. Its
// console lines are kept (the last KEPT_LINES) for pages that connect later, and each line and the exit are reported.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../../bin/retune.js', import.meta.url));
const KEPT_LINES = 2000;
const ERROR_LINE = /^retune: (error|internal error): /;

export type ConsoleStream = 'stdout' | 'stderr';
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ChildRun {
  readonly process: ChildProcess;
  readonly lines: { stream: ConsoleStream; line: string }[] = [];
  exit: ChildExit | null = null;
  readonly exited: Promise<void>;

  // argv: ['retune', command, ...args] as shown to the user.
  constructor(
    readonly argv: string[],
    cwd: string,
    onLine: (stream: ConsoleStream, line: string) => void,
    onExit: () => void,
  ) {
    this.process = spawn(process.execPath, [BIN, ...argv.slice(1)], {
      cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, RETUNE_DEBUG: '' },
    });
    const keep = (stream: ConsoleStream, line: string): void => {
      this.lines.push({ stream, line });
      if (this.lines.length > KEPT_LINES) this.lines.splice(0, this.lines.length - KEPT_LINES);
      onLine(stream, line);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      let pending = '';
      this.process[stream]!.on('data', (chunk: Buffer) => {
        const parts = (pending + chunk.toString('utf8')).split(/\r?\n|\r/);
        pending = parts.pop() ?? '';
        for (const line of parts) keep(stream, line);
      });
      this.process[stream]!.on('end', () => {
        if (pending !== '') keep(stream, pending);
      });
    }
    this.exited = new Promise((resolve) => {
      this.process.on('close', (code, signal) => {
        this.exit = { code, signal };
        onExit();
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  // The CLI's message of a failed run: its last `retune: error: ...` line without that prefix, else its last stderr line.
  failure(): string {
    const stderr = this.lines.filter((l) => l.stream === 'stderr' && l.line.trim() !== '').map((l) => l.line).reverse();
    const error = stderr.find((line) => ERROR_LINE.test(line));
    return error?.replace(ERROR_LINE, '') ?? stderr[0] ?? `exit code ${this.exit?.code}`;
  }

  stopBy(): 'SIGTERM' | 'SIGINT' | 'SIGKILL' | null {
    const exit = this.exit;
    if (exit === null) return null;
    const signal = exit.signal ?? (exit.code === 143 ? 'SIGTERM' : exit.code === 130 ? 'SIGINT' : null);
    return signal === 'SIGTERM' || signal === 'SIGINT' || signal === 'SIGKILL' ? signal : null;
  }
}

// SIGTERM to every running child, then waits for them all (Ctrl-C of the server).
export async function stopAll(children: Iterable<ChildRun>): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const child of children) {
    if (!child.running) continue;
    child.process.kill('SIGTERM');
    waits.push(child.exited);
  }
  await Promise.all(waits);
}

// The pages following each output dir's events.
export class DirListeners<E> {
  private readonly byDir = new Map<string, Set<(event: E) => void>>();

  add(dir: string, send: (event: E) => void): () => void {
    const set = this.byDir.get(dir) ?? new Set();
    this.byDir.set(dir, set.add(send));
    return () => set.delete(send);
  }

  emit(dir: string, event: E): void {
    for (const send of this.byDir.get(dir) ?? []) send(event);
  }
}
