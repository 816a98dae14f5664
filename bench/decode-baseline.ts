// transformers' greedy `generate` as the decode benches' baseline: bench/decode_transformers.py runs as one child
// process per bench (the model loads once), and each request is a batch of prompts decoded to a fixed length.
// Needs the repo's .venv (torch, transformers); absent, the benches print Retune's figures alone.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const SCRIPT = join(ROOT, 'bench', 'decode_transformers.py');

export interface Baseline {
  // Tokens/s over all prompts, decoded together as one batch.
  run(prompts: string[] | number[][]): Promise<number>;
  close(): void;
}

// model: a model folder, or 'qwen2.5-0.5b-shape' (random bf16 weights); null when there is no .venv.
export async function startTransformers(model: string, tokens: number, threads: number): Promise<Baseline | null> {
  if (!existsSync(PYTHON)) return null;
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [SCRIPT, model, String(tokens), String(threads)], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-3000)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, number>> => {
    const line = await lines.next();
    if (line.done) throw new Error(`bench/decode_transformers.py ended:\n${stderr}`);
    return JSON.parse(line.value) as Record<string, number>;
  };
  await next(); // {"ready": true} once the model is loaded
  return {
    async run(prompts) {
      child.stdin.write(`${JSON.stringify(prompts)}\n`);
      const r = await next();
      return r.tokens / r.seconds;
    },
    close() {
      child.stdin.end();
    },
  };
}

// "a / b" with two decimals, or "-" without a baseline.
export function ratio(a: number, b: number | null): string {
  return b === null ? '-' : `${(a / b).toFixed(2)}x`;
}
