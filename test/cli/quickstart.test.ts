// The README's promise, on a reduced step count: the quickstart trains the shipped model with no download, writes a
// checkpoint and the loss plot, chat answers through the trained adapter, prediction scores it, a resume with a
// changed LR prints its plan, and export writes a Hugging Face folder.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'retune-quickstart-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const out = join(scratch, 'quickstart');
const steps = 30;

function losses(dir = out): number[] {
  return readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8').trim().split('\n')
    .map((line) => JSON.parse(line) as { loss?: number })
    .filter((row) => typeof row.loss === 'number')
    .map((row) => row.loss as number);
}

test('quickstart trains the shipped model: the loss falls, a checkpoint and the loss plot are written', () => {
  const r = runCli(['train', 'examples/quickstart.yaml', `output_dir=${out}`, `max_steps=${steps}`, 'logging_steps=10', 'save_steps=10']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Training plan: fresh run in ${out}`));
  const logged = losses();
  assert.equal(logged.length, steps / 10);
  assert.ok(logged.at(-1)! < logged[0] * 0.8, `loss should fall by 20 %: ${logged.join(', ')}`);
  for (const file of ['checkpoint-10/manifest.json', `checkpoint-${steps}/manifest.json`, 'adapter_model.safetensors',
    'adapter_config.json', 'training_loss.png', 'training_loss.svg', 'trainer_state.json', 'training_args.yaml']) {
    assert.ok(existsSync(join(out, file)), `${file} is written`);
  }
});

// bf16: true computes the frozen base's products in bf16 (float32 LoRA, norms, loss, optimizer): the loss curve
// moves by 3e-4 of its value here; the band is 2 %, and the curves must differ (the bf16 products ran).
test('with bf16: true the quickstart loss curve stays within 2 % of the float32 run', () => {
  const bf16Out = join(scratch, 'quickstart-bf16');
  const r = runCli(['train', 'examples/quickstart.yaml', `output_dir=${bf16Out}`, `max_steps=${steps}`, 'logging_steps=10',
    'save_steps=1000', 'plot_loss=false', 'bf16=true'], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  const [bf16, fp32] = [losses(bf16Out), losses().slice(0, steps / 10)];
  assert.equal(bf16.length, fp32.length);
  bf16.forEach((l, i) => assert.ok(Math.abs(l - fp32[i]) <= 0.02 * fp32[i], `step ${(i + 1) * 10}: bf16 ${l} vs fp32 ${fp32[i]}`));
  assert.notDeepEqual(bf16, fp32);
});

// With full fine-tuning, bf16: true is mixed precision: float32 masters whose products read bf16 copies. The curve
// moves by 0.2-0.4 % here over 20 steps; the band is 2 %, and the curves must differ (the copies were used).
test('with bf16: true, full fine-tuning of the quickstart model stays within 2 % of the float32 run', () => {
  const run = (bf16: boolean): number[] => {
    const dir = join(scratch, `full-${bf16}`);
    const r = runCli(['train', 'examples/quickstart.yaml', `output_dir=${dir}`, 'finetuning_type=full', 'max_steps=20',
      'logging_steps=10', 'save_steps=1000', 'plot_loss=false', `bf16=${bf16}`], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    return losses(dir);
  };
  const [fp32, bf16] = [run(false), run(true)];
  assert.equal(bf16.length, 2);
  bf16.forEach((l, i) => assert.ok(Math.abs(l - fp32[i]) <= 0.02 * fp32[i], `step ${(i + 1) * 10}: bf16 ${l} vs fp32 ${fp32[i]}`));
  assert.notDeepEqual(bf16, fp32);
});

test('chat answers through the trained adapter, greedily and reproducibly', () => {
  const ask = () => runCli(['chat', 'examples/quickstart-chat.yaml', `adapter_name_or_path=${out}`, '--prompt', 'Who are you?']);
  const first = ask();
  assert.equal(first.code, 0, first.stderr);
  assert.ok(first.stdout.trim().length > 0, 'a non-empty answer');
  assert.equal(ask().stdout, first.stdout);
});

test('evaluate and predict score the trained adapter on the identity prompts', () => {
  const predicted = join(scratch, 'predict');
  const r = runCli(['train', 'examples/quickstart-predict.yaml', `adapter_name_or_path=${out}`, `output_dir=${predicted}`]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(join(predicted, 'generated_predictions.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { prompt: string; predict: string; label: string });
  assert.equal(lines.length, 16);
  assert.ok(lines.some((l) => l.predict.length > 0), 'the trained adapter answers');
  const results = JSON.parse(readFileSync(join(predicted, 'all_results.json'), 'utf8')) as Record<string, number>;
  for (const split of ['eval', 'predict']) {
    for (const k of ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l']) assert.ok(Number.isFinite(results[`${split}_${k}`]), `${split}_${k}`);
  }
  // Greedy decoding: evaluation by generated replies scores the same replies as prediction.
  assert.equal(results['eval_bleu-4'], results['predict_bleu-4']);
  assert.ok(results['predict_bleu-4'] > 0, `BLEU-4 ${results['predict_bleu-4']}`);
});

test('a resume with a lower learning rate and more steps prints the plan, then trains on from the checkpoint', () => {
  const r = runCli(['train', 'examples/quickstart.yaml', `output_dir=${out}`, `max_steps=${steps + 4}`, 'logging_steps=2',
    'learning_rate=5e-4']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`checkpoint-${steps}`));
  assert.match(r.stdout, /learning_rate: 0\.002 -> 0\.0005/);
  const rows = readFileSync(join(out, 'trainer_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.filter((row) => row.current_steps === steps + 4 && typeof row.loss === 'number').length, 1);
});

test('export merges the adapter into a Hugging Face folder that loads and chats the same', () => {
  const exported = join(scratch, 'merged');
  const r = runCli(['export', 'examples/quickstart-export.yaml', `adapter_name_or_path=${out}`, `export_dir=${exported}`]);
  assert.equal(r.code, 0, r.stderr);
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json']) {
    assert.ok(existsSync(join(exported, file)), `${file} is exported`);
  }
  const merged = runCli(['chat', 'examples/quickstart-chat.yaml', `model_name_or_path=${exported}`, 'adapter_name_or_path=null',
    'finetuning_type=full', '--prompt', 'Who are you?']);
  const adapted = runCli(['chat', 'examples/quickstart-chat.yaml', `adapter_name_or_path=${out}`, '--prompt', 'Who are you?']);
  assert.equal(merged.code, 0, merged.stderr);
  assert.equal(merged.stdout, adapted.stdout);
});
