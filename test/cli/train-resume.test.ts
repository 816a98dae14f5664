// An unchanged resume continues bit for bit: the log rows after the resume (loss, LR, grad norm, epoch, tokens), the
// eval rows and the final weights equal those of one uninterrupted run, whether the first run was stopped by SIGTERM
// or SIGINT (Ctrl-C) mid-epoch or ended at max_steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend } from '../../src/backend/index.js';
import {
  evalRows, explain, startTrain, stepRows, tempDir, train, waitForOutput, writeConfig, type RunResult,
} from '../train/run-helpers.js';

// 16 train samples (4 held out), effective batch 4: 4 steps per epoch, 8 in all; eval every 3 steps. A constant LR
// after warmup keeps the max_steps run's schedule equal to the straight run's.
const settings = {
  val_size: 4, eval_strategy: 'steps', eval_steps: 3, lr_scheduler_type: 'constant_with_warmup', warmup_steps: 2,
};

const straightDir = tempDir('straight');
const straight: Promise<RunResult> = train(writeConfig(straightDir, settings));

function assertContinuesStraight(outDir: string, from: number): void {
  const reference = stepRows(join(straightDir, 'out'));
  const resumed = stepRows(outDir);
  assert.equal(reference.size, 8);
  for (let step = from + 1; step <= 8; step++) assert.deepEqual(resumed.get(step), reference.get(step), `step ${step}`);
  const evalAfter = (dir: string) => evalRows(dir).filter((r) => (r.current_steps as number) > from)
    .map(({ eval_loss, eval_perplexity, current_steps }) => ({ eval_loss, eval_perplexity, current_steps }));
  assert.deepEqual(evalAfter(outDir), evalAfter(join(straightDir, 'out')));
  const weights = (dir: string) => readFileSync(join(dir, 'adapter_model.safetensors'));
  assert.ok(weights(outDir).equals(weights(join(straightDir, 'out'))), 'final adapter weights differ');
}

test('straight run: 8 steps with eval rows and final weights', async () => {
  const r = await straight;
  assert.equal(r.code, 0, explain(r));
  const out = join(straightDir, 'out');
  assert.deepEqual([...stepRows(out).keys()], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(evalRows(out).map((e) => e.current_steps), [3, 6]);
  assert.ok(existsSync(join(out, 'checkpoint-8', 'manifest.json')));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} mid-epoch, then resume: identical to the straight run`, async () => {
    await straight;
    const dir = tempDir(signal.toLowerCase());
    const cfg = writeConfig(dir, settings);
    const first = startTrain(cfg);
    await waitForOutput(first.child, /step 1\/8/);
    first.child.kill(signal);
    const stopped = await first.done;
    assert.equal(stopped.signal, signal, explain(stopped));
    const at = Number(new RegExp(`stopped by ${signal} at step (\\d+)`).exec(stopped.stdout)?.[1]);
    assert.ok(at >= 1 && at < 8 && at % 4 !== 0, `stopped at step ${at}, mid-epoch expected\n${explain(stopped)}`);
    assert.ok(existsSync(join(dir, 'out', `checkpoint-${at}`, 'manifest.json')));

    const resumed = await train(cfg);
    assert.equal(resumed.code, 0, explain(resumed));
    assert.match(resumed.stdout, new RegExp(`Resume plan: checkpoint-${at}, step ${at} of 8`));
    assert.match(resumed.stdout, /config: no change that affects training/);
    assertContinuesStraight(join(dir, 'out'), at);
  });
}

test('a run ended by max_steps, resumed without it: identical to the straight run', async () => {
  await straight;
  const dir = tempDir('maxsteps');
  const cfg = writeConfig(dir, settings);
  const first = await train(cfg, ['max_steps=3']);
  assert.equal(first.code, 0, explain(first));
  assert.deepEqual([...stepRows(join(dir, 'out')).keys()], [1, 2, 3]);
  const saved = JSON.parse(readFileSync(join(dir, 'out', 'checkpoint-3', 'train_state.json'), 'utf8')) as { kernel_path?: string };
  assert.equal(saved.kernel_path, getBackend().kernelPath, 'the checkpoint records the kernel path');

  const resumed = await train(cfg);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.doesNotMatch(resumed.stdout, /kernel path/, 'same path: no kernel path row');
  assert.match(resumed.stdout, /max_steps: 3 -> -1: absolute: the new schedule at step 3, 8 steps in all/);
  assertContinuesStraight(join(dir, 'out'), 3);
});

test('freeze fine-tuning with bf16 resumes exactly (frozen weights in bf16; trained ones come back in fp32, their bf16 copies remade)', async () => {
  const freeze = { finetuning_type: 'freeze', freeze_trainable_layers: 1, bf16: true, learning_rate: 1e-3, save_steps: 3 };
  const dir = tempDir('freeze');
  const cfg = writeConfig(dir, freeze);
  const first = await train(cfg);
  assert.equal(first.code, 0, explain(first));
  const out = join(dir, 'out');
  const saved = JSON.parse(readFileSync(join(out, 'checkpoint-3', 'train_state.json'), 'utf8')) as { bf16_copies?: boolean };
  assert.equal(saved.bf16_copies, true, 'the checkpoint records that the trained weights had bf16 copies');
  const resumedOut = join(dir, 'resumed');
  const resumed = await train(cfg, [`output_dir=${resumedOut}`, `resume_from_checkpoint=${join(out, 'checkpoint-3')}`]);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.doesNotMatch(resumed.stdout, /predates bf16 mixed precision/);
  const reference = stepRows(out);
  const after = stepRows(resumedOut);
  for (let step = 4; step <= 10; step++) assert.deepEqual(after.get(step), reference.get(step), `step ${step}`);
  const weights = (d: string) => readFileSync(join(d, 'model.safetensors'));
  assert.ok(weights(resumedOut).equals(weights(out)), 'final weights differ');
});

test('LoRA on a train_from_scratch base resumes exactly (the random base is rebuilt from the seed)', async () => {
  const dir = tempDir('scratch');
  const cfg = writeConfig(dir, { train_from_scratch: true, max_steps: 4, save_steps: 2 });
  const first = await train(cfg);
  assert.equal(first.code, 0, explain(first));
  const out = join(dir, 'out');
  const resumedOut = join(dir, 'resumed');
  const resumed = await train(cfg, [`output_dir=${resumedOut}`, `resume_from_checkpoint=${join(out, 'checkpoint-2')}`]);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.deepEqual(stepRows(resumedOut).get(4), stepRows(out).get(4));
  const weights = (d: string) => readFileSync(join(d, 'adapter_model.safetensors'));
  assert.ok(weights(resumedOut).equals(weights(out)), 'final adapter weights differ');
});
