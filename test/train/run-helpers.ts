// Runs `retune train` as a child process on the tiny fixture model (test/fixtures/train), the way users and the web
// UI run it, and reads what it leaves in output_dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURE = 'test/fixtures/train';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `retune-${prefix}-`));
}

// A LoRA SFT config over the 20-sample fixture dataset: batch 2 x accumulation 2 = 5 steps per epoch, 2 epochs.
export function writeConfig(dir: string, extra: Record<string, unknown> = {}): string {
  const config: Record<string, unknown> = {
    model_name_or_path: `${FIXTURE}/model`,
    stage: 'sft',
    do_train: true,
    finetuning_type: 'lora',
    lora_rank: 4,
    lora_target: 'q_proj,v_proj',
    lora_dropout: 0.1,
    dataset_dir: `${FIXTURE}/data`,
    dataset: 'animals',
    template: 'chatml',
    cutoff_len: 48,
    output_dir: join(dir, 'out'),
    logging_steps: 1,
    save_steps: 100,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 2,
    learning_rate: 1e-2,
    num_train_epochs: 2,
    lr_scheduler_type: 'cosine',
    warmup_steps: 2,
    ...extra,
  };
  const path = join(dir, 'cfg.yaml');
  writeFileSync(path, Object.entries(config).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') + '\n');
  return path;
}

export function startTrain(cfg: string, overrides: string[] = []): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, ['bin/retune.js', 'train', cfg, ...overrides]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function train(cfg: string, overrides: string[] = []): Promise<RunResult> {
  return startTrain(cfg, overrides).done;
}

// Resolves once the child's stdout matches `pattern`, or the child has exited.
export function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    child.on('close', () => resolve());
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (pattern.test(seen)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
  });
}

// Starts a training, sends SIGTERM once its stdout matches `pattern` (the trainer then saves and exits), and resolves
// with how it ended.
export async function trainUntil(cfg: string, pattern: RegExp): Promise<RunResult> {
  const run = startTrain(cfg);
  await waitForOutput(run.child, pattern);
  run.child.kill('SIGTERM');
  return run.done;
}

export interface LoggedStep {
  current_steps: number;
  total_steps: number;
  loss: number;
  lr: number;
  grad_norm: number;
  epoch: number;
  total_tokens: number;
}

export function logRows(outDir: string): Record<string, unknown>[] {
  return readFileSync(join(outDir, 'trainer_log.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

// The math of each logged step (timings left out), by step.
export function stepRows(outDir: string): Map<number, LoggedStep> {
  const out = new Map<number, LoggedStep>();
  for (const r of logRows(outDir)) {
    if (typeof r.loss !== 'number') continue;
    const { current_steps, total_steps, loss, lr, grad_norm, epoch, total_tokens } = r as unknown as LoggedStep;
    out.set(current_steps, { current_steps, total_steps, loss, lr, grad_norm, epoch, total_tokens });
  }
  return out;
}

export function evalRows(outDir: string): Record<string, unknown>[] {
  return logRows(outDir).filter((r) => typeof r.eval_loss === 'number');
}

export function explain(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}
