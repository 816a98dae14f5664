// The Retune Board's config loading and Export tab in a real browser: the quickstart config loaded into the Train
// form from its YAML file and trained for a few steps, then the Export tab merges that adapter and writes the model
// folder. Screenshots: dist/test-output/webui/export/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { makeRoot, openBrowser, skipReason, startServer, type Browser, type Server } from './webui-helpers.js';

let root = '';
let server: Server;
let browser: Browser;
let page: Page;

before(async () => {
  if (skipReason !== false) return;
  root = makeRoot('export');
  server = await startServer(root);
  browser = await openBrowser('export');
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function setKey(scope: string, key: string, value: string): Promise<void> {
  const input = page.locator(`${scope} [data-key=${key}] input`);
  await input.fill(value);
  await input.press('Tab');
}

// Pixels of the loss chart's canvas in the loss or smoothed-loss colour (#a5b4fc, #4338ca).
function lossPixels(): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.querySelector('[data-testid=chart-loss] canvas') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = [[0xa5, 0xb4, 0xfc], [0x43, 0x38, 0xca]];
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (colours.some(([r, g, b]) => Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 24)) n++;
    }
    return n;
  });
}

test('the quickstart config loads into the Train form and trains', { skip: skipReason }, async () => {
  await page.goto(server.url);
  await page.fill('input[name=config-path]', 'examples/quickstart.yaml');
  await page.click('[data-testid=config-load]');
  await page.waitForFunction(() =>
    (document.querySelector('[data-key=output_dir] input') as HTMLInputElement | null)?.value === 'saves/quickstart');
  assert.equal(await page.inputValue('[data-key=learning_rate] input'), '0.002');
  assert.equal(await page.inputValue('[data-key=lora_rank] input'), '16');
  await setKey('', 'max_steps', '6');
  await page.waitForSelector('[data-testid=fresh-plan] [data-testid=plan][data-kind=fresh]');
  await browser.shot('quickstart-loaded');
  await page.click('[data-testid=start]');
  await page.waitForFunction(() => document.querySelector('[data-testid=run-state]')?.textContent === 'finished',
    undefined, { timeout: 120_000 });
  await browser.shot('quickstart-trained');
  assert.ok(existsSync(join(root, 'saves/quickstart/adapter_model.safetensors')));
  // Logged every 5 steps, the run's last step (6) is not a log row: the bar still shows the run done.
  assert.deepEqual(await page.getAttribute('[data-testid=progress]', 'data-step'), '6');
  // ... and the epoch where it ended (the final save's), not the step-5 row's.
  const { epoch } = JSON.parse(readFileSync(join(root, 'saves/quickstart/train_results.json'), 'utf8')) as { epoch: number };
  assert.equal(await page.textContent('[data-testid=progress-epoch]'), `epoch ${epoch.toFixed(2)}`);
  // One logged loss row makes no line: the chart must still show it, as a dot in the loss colours.
  assert.ok(await lossPixels() > 0, 'the single logged loss is drawn');
});

test('the Export tab writes the merged model folder', { skip: skipReason }, async () => {
  await page.click('[data-tab=export]');
  const scope = 'section:has([data-testid=export-run])';
  await setKey(scope, 'model_name_or_path', 'examples/models/tiny-stories');
  await setKey(scope, 'adapter_name_or_path', 'saves/quickstart');
  await setKey(scope, 'template', 'chatml');
  await setKey(scope, 'export_dir', 'saves/quickstart-merged');
  await page.click('[data-testid=export-run]');
  await page.waitForSelector('[data-testid=export-result]', { timeout: 120_000 });
  assert.match(await page.textContent('[data-testid=export-result]') ?? '', /saves\/quickstart-merged/);
  await browser.shot('exported');
  const files = readdirSync(join(root, 'saves/quickstart-merged'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
    assert.ok(files.includes(f), `${f} missing from the export: ${files.join(', ')}`);
  }
  assert.ok(!existsSync(join(root, 'saves/quickstart-merged/adapter_model.safetensors')));
});
