// The web UI's browser tests: a temp root holding the quickstart model and data, `retune webui` serving it on a free
// loopback port, and Debian's Chromium driven by playwright-core. Screenshots of every state go to
// dist/test-output/webui/<test>/ (RETUNE_E2E_OUT overrides), for people to look at.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

// Why the browser tests are skipped here, or false when they run (CI installs chromium, so there they run).
export const skipReason: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) to run the web UI tests`;

// A root folder with the quickstart's own model and data at the paths examples/ uses.
export function makeRoot(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), `retune-webui-${prefix}-`));
  cpSync('examples/models/tiny-stories', join(root, 'examples/models/tiny-stories'), { recursive: true });
  cpSync('examples/data', join(root, 'examples/data'), { recursive: true });
  cpSync('examples/quickstart.yaml', join(root, 'examples/quickstart.yaml'));
  return root;
}

export interface Server {
  url: string;
  child: ChildProcess;
  output: () => string;
  close: () => Promise<void>;
}

// `retune webui --root R --port 0`: resolves with the URL it prints.
export function startServer(root: string): Promise<Server> {
  const child = spawn(process.execPath, [resolve('bin/retune.js'), 'webui', '--root', root, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const closed = new Promise<void>((done) => child.on('close', () => done()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await closed;
  };
  return new Promise((done, fail) => {
    let url: string | null = null;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(output);
      if (url === null && m !== null) {
        url = m[0];
        done({ url, child, output: () => output, close });
      }
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => {
      if (url === null) fail(new Error(`retune webui exited with ${code} before printing its URL:\n${output}`));
    });
  });
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  shot: (name: string) => Promise<string>; // the whole page
  shotOf: (selector: string, name: string) => Promise<string>; // one element
  close: () => Promise<void>;
}

// Chromium with a fresh profile and the flags a sandboxed root machine needs.
export async function openBrowser(testName: string): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'retune-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const dir = resolve(process.env.RETUNE_E2E_OUT ?? 'dist/test-output/webui', testName);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const next = (name: string) => join(dir, `${String(++n).padStart(2, '0')}-${name}.png`);
  return {
    context,
    page,
    shot: async (name) => {
      const path = next(name);
      await page.screenshot({ path, fullPage: true, animations: 'disabled' }); // transitions shown finished, as a person sees them
      return path;
    },
    shotOf: async (selector, name) => {
      const path = next(name);
      await page.locator(selector).screenshot({ path, animations: 'disabled' });
      return path;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface StepRow {
  current_steps: number;
  lr: number;
  loss: number;
}

// The rows of <dir>/trainer_log.jsonl (none before the run writes it; later rows for a step replace earlier ones, as after a resume).
export function logRows(dir: string): Record<string, unknown>[] {
  if (!existsSync(join(dir, 'trainer_log.jsonl'))) return [];
  return readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function stepRows(dir: string): Map<number, StepRow> {
  const out = new Map<number, StepRow>();
  for (const row of logRows(dir)) if (typeof row.loss === 'number') out.set(row.current_steps as number, row as unknown as StepRow);
  return out;
}
