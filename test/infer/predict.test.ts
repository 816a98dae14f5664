// do_eval and do_predict through `retune train` with do_train false, on the chat fixture model (random weights, whose
// greedy replies transformers gave: test/fixtures/cli/chat-golden.json).
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { similarity } from '../../src/infer/similarity.js';
import { runCli } from '../cli/run-cli.js';

const golden = JSON.parse(readFileSync('test/fixtures/cli/chat-golden.json', 'utf8')) as {
  questions: [string, string]; max_new_tokens: number; base: { first: string };
};

// Prompts of different lengths (so batched rows differ in length), one with a Chinese reference.
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'retune-predict-'));
  writeFileSync(join(dir, 'dataset_info.json'), JSON.stringify({ qa: { file_name: 'qa.json' } }));
  writeFileSync(join(dir, 'qa.json'), JSON.stringify([
    { instruction: golden.questions[0], input: '', output: 'Once upon a time a tiny rabbit played.' },
    { instruction: golden.questions[1], input: '', output: '我来到北京清华大学' },
    { instruction: 'Say hi', input: '', output: 'hi' },
    { instruction: 'Tell me a long story about a kite, a rabbit and a quick fox.', input: 'Please.', output: 'A kite flew.' },
    { instruction: 'Why?', input: '', output: 'Because the rabbit was tired.' },
  ]));
  writeFileSync(join(dir, 'base.yaml'), `model_name_or_path: test/fixtures/cli/chat-model\ntemplate: chatml\ndataset_dir: ${dir}\n`);
  return dir;
}

function predictArgs(dir: string, out: string, extra: string[] = []): string[] {
  return ['train', join(dir, 'base.yaml'), 'do_predict=true', 'predict_with_generate=true', 'eval_dataset=qa',
    `output_dir=${out}`, 'do_sample=false', `max_new_tokens=${golden.max_new_tokens}`, ...extra];
}

interface Prediction { prompt: string; predict: string; label: string }

function readPredictions(out: string): Prediction[] {
  return readFileSync(join(out, 'generated_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Prediction);
}

test('do_predict writes prompt/predict/label lines, greedy batched equals one by one and transformers, scores as LF', () => {
  const dir = dataDir();
  try {
    const batched = runCli(predictArgs(dir, join(dir, 'b3'), ['per_device_eval_batch_size=3']));
    assert.equal(batched.code, 0, batched.stderr);
    assert.match(batched.stdout, /predict: 5 prompts, 3 decoded together/);
    assert.match(batched.stdout, /predict: \d+ tokens in [\d.]+ s, [\d.]+ tokens\/s/);
    const single = runCli(predictArgs(dir, join(dir, 'b1'), ['per_device_eval_batch_size=1']));
    assert.equal(single.code, 0, single.stderr);
    const lines = readPredictions(join(dir, 'b3'));
    assert.deepEqual(lines, readPredictions(join(dir, 'b1')));
    assert.equal(lines.length, 5);
    assert.equal(lines[0].prompt, `<|im_start|>user\n${golden.questions[0]}<|im_end|>\n<|im_start|>assistant\n`);
    assert.equal(lines[0].predict, golden.base.first);
    assert.equal(lines[1].label, '我来到北京清华大学\n');

    const results = JSON.parse(readFileSync(join(dir, 'b3', 'predict_results.json'), 'utf8')) as Record<string, number>;
    for (const k of ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l'] as const) {
      const mean: number = lines.reduce((s: number, l) => s + similarity(l.predict, l.label)[k], 0) / lines.length;
      assert.equal(results[`predict_${k}`], mean, k);
    }
    assert.ok(results['predict_bleu-4'] > 0);
    for (const k of ['predict_runtime', 'predict_samples_per_second', 'predict_steps_per_second', 'predict_tokens_per_second']) {
      assert.ok(results[k] > 0, k);
    }
    const all = JSON.parse(readFileSync(join(dir, 'b3', 'all_results.json'), 'utf8')) as Record<string, number>;
    assert.deepEqual(all, results);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('do_sample: each prompt samples from its own stream of the seed, so batch 1 and batch 8 agree and the seed matters', () => {
  const dir = dataDir();
  try {
    const sampled = (name: string, extra: string[]): Prediction[] => {
      const r = runCli(predictArgs(dir, join(dir, name), ['do_sample=true', 'temperature=1.0', 'top_k=0', 'top_p=1.0', ...extra]));
      assert.equal(r.code, 0, r.stderr);
      return readPredictions(join(dir, name));
    };
    const batch1 = sampled('s1', ['per_device_eval_batch_size=1', 'seed=42']);
    const batch8 = sampled('s8', ['per_device_eval_batch_size=8', 'seed=42']);
    assert.deepEqual(batch8, batch1);
    const otherSeed = sampled('s43', ['per_device_eval_batch_size=8', 'seed=43']);
    assert.equal(otherSeed.length, 5);
    assert.ok(otherSeed.some((l, i) => l.predict !== batch1[i].predict), 'another seed samples other replies');
    assert.notEqual(batch1[0].predict, golden.base.first, 'the replies are sampled, not greedy');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('do_eval alone writes eval_loss and perplexity, per-token over eval_dataset whatever the batch, or over the val_size split', () => {
  const dir = dataDir();
  try {
    const run = (batch: number): Record<string, number> => {
      const out = join(dir, `eval${batch}`);
      const r = runCli(['train', join(dir, 'base.yaml'), 'do_eval=true', 'eval_dataset=qa', `output_dir=${out}`,
        `per_device_eval_batch_size=${batch}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /eval_loss +=/);
      const results = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8')) as Record<string, number>;
      assert.deepEqual(JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')), results);
      return results;
    };
    const one = run(1);
    const two = run(2);
    assert.deepEqual(Object.keys(one), ['eval_loss', 'eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second', 'perplexity']);
    assert.ok(one.eval_loss > 0 && Number.isFinite(one.eval_loss));
    assert.equal(one.perplexity, Math.exp(one.eval_loss));
    assert.ok(Math.abs(one.eval_loss - two.eval_loss) < 1e-5, `${one.eval_loss} vs ${two.eval_loss}`);
    const split = runCli(['train', join(dir, 'base.yaml'), 'do_eval=true', 'dataset=qa', 'val_size=2', `output_dir=${join(dir, 'split')}`]);
    assert.equal(split.code, 0, split.stderr);
    const held = JSON.parse(readFileSync(join(dir, 'split', 'eval_results.json'), 'utf8')) as Record<string, number>;
    assert.equal(held.perplexity, Math.exp(held.eval_loss));
    assert.notEqual(held.eval_loss, one.eval_loss);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// LLaMA-Factory's generating evaluation takes the labels away from the model: no eval_loss, the similarity scores of
// the generated replies and the speed keys instead.
test('do_eval with predict_with_generate scores generated replies: the BLEU/ROUGE of the same replies predict writes', () => {
  const dir = dataDir();
  try {
    const out = join(dir, 'gen');
    const r = runCli(predictArgs(dir, out, ['do_eval=true', 'per_device_eval_batch_size=2']));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /eval: 5 prompts, 2 decoded together/);
    const read = (name: string): Record<string, number> => JSON.parse(readFileSync(join(out, name), 'utf8')) as Record<string, number>;
    const evalResults = read('eval_results.json');
    assert.deepEqual(Object.keys(evalResults), ['eval_bleu-4', 'eval_rouge-1', 'eval_rouge-2', 'eval_rouge-l', 'eval_runtime',
      'eval_samples_per_second', 'eval_steps_per_second', 'eval_tokens_per_second']);
    const lines = readPredictions(out);
    for (const k of ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l'] as const) {
      const mean: number = lines.reduce((sum: number, l) => sum + similarity(l.predict, l.label)[k], 0) / lines.length;
      assert.equal(evalResults[`eval_${k}`], mean, k);
    }
    // 5 prompts in 3 batches of up to 2. The runtime is rounded to 4 places and the rates to 3 (HF's speed_metrics), so
    // their product is off by up to rate * 5e-5 + runtime * 5e-4: ~1 % for the ~20 ms this evaluation takes.
    const within = (rate: number, count: number): boolean =>
      Math.abs(rate * evalResults.eval_runtime - count) <= rate * 5e-5 + evalResults.eval_runtime * 5e-4 + 1e-9;
    assert.ok(within(evalResults.eval_samples_per_second, 5), JSON.stringify(evalResults));
    assert.ok(within(evalResults.eval_steps_per_second, 3), JSON.stringify(evalResults));
    assert.deepEqual(read('all_results.json'), { ...evalResults, ...read('predict_results.json') });

    const split = runCli(['train', join(dir, 'base.yaml'), 'do_eval=true', 'predict_with_generate=true', 'dataset=qa', 'val_size=2',
      'max_new_tokens=4', `output_dir=${join(dir, 'gen-split')}`]);
    assert.equal(split.code, 0, split.stderr);
    assert.match(split.stdout, /eval: 2 prompts, 1 decoded together/);
    const held = JSON.parse(readFileSync(join(dir, 'gen-split', 'eval_results.json'), 'utf8')) as Record<string, number>;
    assert.equal(held.eval_loss, undefined);
    assert.ok(held['eval_rouge-l'] >= 0 && held['eval_rouge-l'] <= 100);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad prediction configs stop with exit 2 naming the key, before writing anything', () => {
  const dir = dataDir();
  try {
    const out = join(dir, 'out');
    const cases: [string[], RegExp][] = [
      [['eval_dataset='], /eval_dataset is required by do_predict/],
      [['predict_with_generate=false'], /do_predict needs predict_with_generate: true/],
      [['output_dir='], /output_dir is required/],
    ];
    for (const [extra, message] of cases) {
      const r = runCli(predictArgs(dir, out, extra));
      assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const pt = runCli(['train', join(dir, 'base.yaml'), 'stage=pt', 'do_eval=true', 'predict_with_generate=true', 'eval_dataset=qa',
      `output_dir=${out}`]);
    assert.equal(pt.code, 2, pt.stderr);
    assert.match(pt.stderr, /predict_with_generate \(do_eval by generated replies\) needs stage: sft, not pt/);
    const noData = runCli(['train', join(dir, 'base.yaml'), 'do_eval=true', `output_dir=${out}`]);
    assert.equal(noData.code, 2);
    assert.match(noData.stderr, /do_eval needs eval data: set eval_dataset, or dataset with val_size/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
