// The Retune Board's Evaluate & Predict tab in a real browser (Debian's Chromium) on the quickstart: a CLI training
// gives a run; the tab evaluates and predicts with that run's adapter as a child `retune train` run, shows
// its progress and console, then the eval loss and perplexity, BLEU-4 / ROUGE and the predictions the CLI wrote. Bad
// settings show the CLI's message and write nothing; the Chinese page describes the keys in Chinese.
// Without predict_with_generate, evaluation alone shows the eval loss and perplexity.
// Screenshots: dist/test-output/webui/evaluate/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { makeRoot, openBrowser, skipReason, startServer, type Browser, type Server } from './webui-helpers.js';

let root = '';
let server: Server;
let browser: Browser;
let page: Page;
const TAB = '[data-testid=evaluate]';

before(async () => {
  if (skipReason !== false) return;
  root = makeRoot('evaluate');
  // The whole quickstart (about a minute), so the predictions are its trained answers.
  const trained = spawnSync(process.execPath, [resolve('bin/retune.js'), 'train', 'examples/quickstart.yaml',
    'output_dir=saves/qs', 'plot_loss=false'], { cwd: root, encoding: 'utf8' });
  assert.equal(trained.status, 0, trained.stderr);
  server = await startServer(root);
  browser = await openBrowser('evaluate');
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function setKey(key: string, value: string | boolean): Promise<void> {
  const field = page.locator(`${TAB} [data-key=${key}]`).first();
  if (typeof value === 'boolean') await field.locator('input').setChecked(value);
  else {
    await field.locator('input').fill(value);
    await field.locator('input').press('Tab');
  }
}

test("evaluate and predict with a run's adapter: progress, console, metrics and predictions", { skip: skipReason }, async () => {
  await page.goto(server.url);
  await page.click('[data-tab=evaluate]');
  await page.waitForSelector(`${TAB} select[name=eval-run] option[value="saves/qs"]`, { state: 'attached' });
  await page.selectOption(`${TAB} select[name=eval-run]`, 'saves/qs');
  assert.equal(await page.inputValue(`${TAB} [data-key=output_dir] input`), 'saves/qs-eval');
  await setKey('dataset_dir', 'examples/data');
  await page.check(`${TAB} input[name=eval_dataset-identity]`);
  for (const [key, value] of Object.entries({ max_samples: '4', cutoff_len: '128', per_device_eval_batch_size: '2', max_new_tokens: '40' })) {
    await setKey(key, value);
  }
  await setKey('do_sample', false);
  await browser.shot('form');

  await page.click('[data-testid=eval-start]');
  await page.waitForSelector('[data-testid=eval-run][data-dir="saves/qs-eval"] [data-testid=eval-progress]');
  await page.waitForFunction(() => document.querySelector('[data-testid=eval-state]')?.textContent === 'finished',
    undefined, { timeout: 120_000 });
  await page.waitForSelector('[data-testid=eval-results] [data-testid=predictions]');
  assert.equal(await page.getAttribute('[data-testid=eval-progress]', 'data-done'), 'eval,predict');
  assert.match(await page.textContent('[data-testid=eval-log]') ?? '', /\*\*\*\*\* predict metrics \*\*\*\*\*/);

  const dir = join(root, 'saves/qs-eval');
  const evalResults = JSON.parse(readFileSync(join(dir, 'eval_results.json'), 'utf8')) as Record<string, number>;
  const shownMetric = async (table: string, key: string) =>
    Number(await page.textContent(`[data-testid=${table}] tr[data-metric="${key}"] td:nth-child(2)`));
  // predict_with_generate (the form's default): do_eval scores the generated replies, as LLaMA-Factory's Evaluate tab.
  assert.equal(await shownMetric('eval-metrics', 'eval_bleu-4'), Number(evalResults['eval_bleu-4'].toPrecision(6)));
  assert.equal(await shownMetric('eval-metrics', 'eval_rouge-l'), Number(evalResults['eval_rouge-l'].toPrecision(6)));
  const predictResults = JSON.parse(readFileSync(join(dir, 'predict_results.json'), 'utf8')) as Record<string, number>;
  assert.equal(evalResults['eval_bleu-4'], predictResults['predict_bleu-4']);
  assert.equal(await shownMetric('predict-metrics', 'predict_bleu-4'), Number(predictResults['predict_bleu-4'].toPrecision(6)));
  assert.equal(await shownMetric('predict-metrics', 'predict_rouge-l'), Number(predictResults['predict_rouge-l'].toPrecision(6)));
  const written = readFileSync(join(dir, 'generated_predictions.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { prompt: string; predict: string; label: string });
  assert.equal(written.length, 4);
  const cells = await page.$$eval('[data-testid=predictions] tbody tr', (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  assert.deepEqual(cells, written.map((w) => [w.prompt, w.predict, w.label]));
  assert.ok(written.some((w) => /Retune Quickstart/.test(w.label) && w.predict === w.label.trim()), JSON.stringify(written));
  assert.ok(predictResults['predict_bleu-4'] > 0);
  await browser.shot('results');

  await page.selectOption('select[name=lang]', 'zh');
  assert.equal(await page.textContent('[data-tab=evaluate]'), '评估与预测');
  assert.equal(await page.textContent(`${TAB} [data-key=max_new_tokens] .desc`).then((s) => s?.split(' — ')[0]), '每条回答最多生成的 token 数。');
  await browser.shot('results-zh');
  await page.selectOption('select[name=lang]', 'en');
});

test("bad settings show the CLI's message and write nothing", { skip: skipReason }, async () => {
  await setKey('predict_with_generate', false);
  await setKey('output_dir', 'saves/other-eval');
  await page.click('[data-testid=eval-start]');
  await page.waitForSelector('[data-testid=eval-error]');
  assert.equal(await page.textContent('[data-testid=eval-error]'),
    'form: do_predict needs predict_with_generate: true (the predictions are generated)');
  assert.equal(existsSync(join(root, 'saves/other-eval')), false);
  await browser.shot('cli-error');

  await setKey('predict_with_generate', true);
  await setKey('output_dir', 'saves/qs');
  await page.click('[data-testid=eval-start]');
  await page.waitForFunction(() => /holds a training run/.test(document.querySelector('[data-testid=eval-error]')?.textContent ?? ''));
  assert.equal(existsSync(join(root, 'saves/qs/eval_args.yaml')), false);
});

test('evaluate without generating shows the eval loss and perplexity the CLI wrote', { skip: skipReason }, async () => {
  await setKey('do_predict', false);
  await setKey('predict_with_generate', false);
  await setKey('output_dir', 'saves/qs-loss');
  await page.click('[data-testid=eval-start]');
  await page.waitForSelector('[data-testid=eval-run][data-dir="saves/qs-loss"] [data-testid=eval-progress]');
  await page.waitForFunction(() => document.querySelector('[data-testid=eval-state]')?.textContent === 'finished',
    undefined, { timeout: 120_000 });
  await page.waitForSelector('[data-testid=eval-results] [data-testid=eval-metrics]');
  const evalResults = JSON.parse(readFileSync(join(root, 'saves/qs-loss/eval_results.json'), 'utf8')) as Record<string, number>;
  assert.ok(evalResults.eval_loss > 0 && Number.isFinite(evalResults.eval_loss), JSON.stringify(evalResults));
  assert.equal(evalResults.perplexity, Math.exp(evalResults.eval_loss));
  assert.equal(existsSync(join(root, 'saves/qs-loss/generated_predictions.jsonl')), false);
  const shown = async (key: string) =>
    Number(await page.textContent(`[data-testid=eval-metrics] tr[data-metric="${key}"] td:nth-child(2)`));
  assert.equal(await shown('eval_loss'), Number(evalResults.eval_loss.toPrecision(6)));
  assert.equal(await shown('perplexity'), Number(evalResults.perplexity.toPrecision(6)));
  await browser.shot('loss');
});
