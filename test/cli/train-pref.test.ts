// `retune train` with stages rm, dpo and kto on the tiny trainer model and fixture data (test/fixtures/pref/data): the
// stage's metrics reach trainer_log.jsonl, the progress line and eval rows; checkpoints hold the policy only (never
// the reference model; rm adds its value_head.safetensors); for each stage an unchanged resume after SIGTERM (LoRA) or max_steps (full) continues bit for
// bit, metrics included; the resume plan refuses a changed pref_loss under strict and explains it otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import { applyFinetuning } from '../../src/model/adapters/finetuning.js';
import { loadModel } from '../../src/model/index.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { runCli } from './run-cli.js';
import {
  explain, FIXTURE, logRows, tempDir, train, trainUntil, writeConfig, type RunResult,
} from '../train/run-helpers.js';

// 12 pairs, 4 held out: 8 train pairs, effective batch 4 = 2 steps per epoch, 3 epochs = 6 steps. Rows every 2
// steps average the metrics of 4 micro-batches, so a resume mid-window must carry the window's sums.
const dpo = {
  stage: 'dpo', dataset_dir: 'test/fixtures/pref/data', dataset: 'animal_pairs', num_train_epochs: 3, val_size: 4,
  eval_strategy: 'steps', eval_steps: 3, logging_steps: 2, lr_scheduler_type: 'constant_with_warmup', pref_beta: 0.2,
  pref_ftx: 0.1,
};
const METRICS = ['rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected'];

// Every logged row without its timings.
function mathRows(outDir: string): Record<string, unknown>[] {
  return logRows(outDir).filter((r) => r.event === undefined).map((r) => {
    const { elapsed_time: _e, remaining_time: _r, throughput: _t, ...rest } = r;
    return rest;
  });
}

function assertSameAfter(outDir: string, referenceDir: string, from: number, weightsFiles: string[]): void {
  const after = (dir: string) => mathRows(dir).filter((r) => (r.current_steps as number) > from);
  assert.deepEqual(after(outDir), after(referenceDir));
  for (const file of weightsFiles) {
    const weights = (dir: string) => readFileSync(join(dir, file));
    assert.ok(weights(outDir).equals(weights(referenceDir)), `final ${file} differs`);
  }
}

const kto = { ...dpo, stage: 'kto', dataset: 'animal_kto', kto_chosen_weight: 1.2, kto_rejected_weight: 0.8 };
const KTO_METRICS = ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'logps/chosen', 'logps/rejected', 'kl'];
const rm = { ...dpo, stage: 'rm' };
const stages = [
  { name: 'rm', settings: rm, metrics: [], evalMetrics: ['accuracy'], extra: ['value_head.safetensors'], progress: /step 2\/6 loss \d\.\d{4} lr / },
  { name: 'dpo', settings: dpo, metrics: METRICS, evalMetrics: METRICS, extra: [], progress: /step 2\/6 loss \d\.\d{4} rewards\/chosen -?\d\.\d{4} .*rewards\/accuracies \d\.\d{4} .*logps\/rejected -?\d+\.\d{4} lr / },
  { name: 'kto', settings: kto, metrics: KTO_METRICS, evalMetrics: KTO_METRICS, extra: [], progress: /step 2\/6 loss \d\.\d{4} rewards\/chosen -?\d\.\d{4} .* kl \d\.\d{4} lr / },
];

const loraDir = tempDir('dpo-lora');
const loraStraight: Promise<RunResult> = train(writeConfig(loraDir, dpo));

for (const stage of stages) {
  const straightDir = stage.name === 'dpo' ? loraDir : tempDir(`${stage.name}-lora`);
  const straight = stage.name === 'dpo' ? loraStraight : train(writeConfig(straightDir, stage.settings));

  test(`LoRA ${stage.name} logs its metrics in rows, progress line and eval; checkpoints hold the adapter and no model`, async () => {
    const r = await straight;
    assert.equal(r.code, 0, explain(r));
    const out = join(straightDir, 'out');
    const steps = mathRows(out).filter((row) => typeof row.loss === 'number');
    assert.deepEqual(steps.map((row) => row.current_steps), [2, 4, 6]);
    for (const row of steps) for (const k of stage.metrics) assert.equal(typeof row[k], 'number', `${k} in ${JSON.stringify(row)}`);
    const evals = mathRows(out).filter((row) => typeof row.eval_loss === 'number');
    assert.deepEqual(evals.map((row) => row.current_steps), [3, 6]);
    for (const row of evals) for (const k of stage.evalMetrics) assert.equal(typeof row[`eval_${k}`], 'number', `eval_${k}`);
    assert.match(r.stdout, stage.progress);
    // The model learns the data: desirable answers gain on the others (rm: the held-out pairs' loss falls).
    if (stage.name === 'rm') assert.ok((evals[1].eval_loss as number) < (evals[0].eval_loss as number), JSON.stringify(evals));
    else assert.ok((steps[2]['rewards/margins'] as number) > 0, JSON.stringify(steps[2]));
    const files = readdirSync(join(out, 'checkpoint-6')).sort();
    for (const f of ['adapter_model.safetensors', ...stage.extra]) {
      assert.ok(files.includes(f), files.join(', '));
      assert.ok(readdirSync(out).includes(f), `${f} in output_dir`);
    }
    assert.ok(!files.some((f) => f.startsWith('model')), `a LoRA checkpoint holds no model weights: ${files.join(', ')}`);
  });

  test(`LoRA ${stage.name} stopped by SIGTERM mid-window, then resumed: identical to the straight run`, async () => {
    await straight;
    const dir = tempDir(`${stage.name}-lora-sigterm`);
    const cfg = writeConfig(dir, stage.settings);
    const stopped = await trainUntil(cfg, /step 2\/6/);
    assert.equal(stopped.signal, 'SIGTERM', explain(stopped));
    const at = Number(/stopped by SIGTERM at step (\d+)/.exec(stopped.stdout)?.[1]);
    assert.ok(at >= 2 && at < 6, explain(stopped));
    const resumed = await train(cfg);
    assert.equal(resumed.code, 0, explain(resumed));
    assert.match(resumed.stdout, /config: no change that affects training/);
    assertSameAfter(join(dir, 'out'), join(straightDir, 'out'), at, ['adapter_model.safetensors', ...stage.extra]);
  });

  // dpo/kto: identical only if the reference stays the base rather than the checkpoint's weights.
  test(`full ${stage.name} ended by max_steps, resumed without it: identical to the straight run`, async () => {
    const full = { ...stage.settings, finetuning_type: 'full', learning_rate: 1e-3 };
    const fullDir = tempDir(`${stage.name}-full`);
    const whole = await train(writeConfig(fullDir, full));
    assert.equal(whole.code, 0, explain(whole));
    const dir = tempDir(`${stage.name}-full-maxsteps`);
    const cfg = writeConfig(dir, full);
    const first = await train(cfg, ['max_steps=3']);
    assert.equal(first.code, 0, explain(first));
    // One copy of the weights in the checkpoint: the policy's.
    const files = readdirSync(join(dir, 'out', 'checkpoint-3')).filter((f) => f.endsWith('.safetensors')).sort();
    assert.deepEqual(files, ['model.safetensors', 'optimizer.safetensors', ...stage.extra]);
    const resumed = await train(cfg);
    assert.equal(resumed.code, 0, explain(resumed));
    assertSameAfter(join(dir, 'out'), join(fullDir, 'out'), 3, ['model.safetensors', ...stage.extra]);
  });
}

test('retune export merges a dpo adapter like an sft one: the merged model computes what base + adapter does', async () => {
  await loraStraight;
  const adapter = join(loraDir, 'out');
  const exportDir = join(loraDir, 'export');
  const r = runCli(['export', `model_name_or_path=${FIXTURE}/model`, `adapter_name_or_path=${adapter}`, `export_dir=${exportDir}`]);
  assert.equal(r.code, 0, r.stderr);
  const merged = await loadModel(exportDir);
  const adapted = await loadModel(`${FIXTURE}/model`);
  const ft = applyFinetuning(adapted, configSchema.parse({ adapter_name_or_path: adapter, model_name_or_path: `${FIXTURE}/model` }));
  ft.adapters?.setTraining(false); // the unmerged adapter as the trainer evaluates it: no dropout
  const ids = Int32Array.from([5, 17, 33, 70, 101, 9, 44, 12]);
  const logits = (m: typeof merged) => noGrad(() => m.forward(ids, 1, 8).data.slice());
  const [a, b] = [logits(merged), logits(adapted)];
  const base = logits(await loadModel(`${FIXTURE}/model`));
  let diff = 0;
  let moved = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    moved = Math.max(moved, Math.abs(a[i] - base[i]));
  }
  assert.ok(diff < 1e-4, `merged vs base + adapter: ${diff}`);
  assert.ok(moved > 1e-3, `the trained adapter changes the model: ${moved}`);
});

test('retune export of a reward model keeps its value head, as LLaMA-Factory exports stage rm', async () => {
  const rmDir = tempDir('rm-export');
  const trained = await train(writeConfig(rmDir, { ...rm, num_train_epochs: 1, eval_strategy: 'no', val_size: 0 }));
  assert.equal(trained.code, 0, explain(trained));
  const exportDir = join(rmDir, 'export');
  const r = runCli(['export', 'stage=rm', `model_name_or_path=${FIXTURE}/model`,
    `adapter_name_or_path=${join(rmDir, 'out')}`, `export_dir=${exportDir}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(exportDir, 'value_head.safetensors')).equals(readFileSync(join(rmDir, 'out', 'value_head.safetensors'))));
});

test('a changed pref_loss is refused under resume_policy strict and explained under config', async () => {
  await loraStraight;
  const cfg = writeConfig(loraDir, dpo);
  const strict = await train(cfg, ['pref_loss=ipo', 'resume_policy=strict', 'num_train_epochs=4', '--dry-run']);
  assert.equal(strict.code, 2, explain(strict));
  assert.match(strict.stderr, /resume_policy strict: the config differs from checkpoint-6 in: .*pref_loss sigmoid -> ipo/);
  const changed = await train(cfg, ['pref_loss=ipo', 'ref_model=test/fixtures/train/model', 'num_train_epochs=4', '--dry-run']);
  assert.equal(changed.code, 0, explain(changed));
  assert.match(changed.stdout, /pref_loss: sigmoid -> ipo: a different loss from step 7: the weights continue/);
  assert.match(changed.stdout, /ref_model: null -> test\/fixtures\/train\/model: a different reference model from step 7/);
});
