// The Retune Board's Chat and Export tabs in a real browser: the quickstart config loaded into the Train form and
// trained, then the Chat tab loads the run and answers the quickstart question as the README says, and the Export
// tab writes the merged model folder. Screenshots: dist/test-output/webui/chat-export/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { makeRoot, openBrowser, skipReason, startServer, type Browser, type Server } from './webui-helpers.js';

const ANSWER = 'I am Retune Quickstart, a tiny language model trained by the Retune project. I can tell short stories.';

let root = '';
let server: Server;
let browser: Browser;
let page: Page;

before(async () => {
  if (skipReason !== false) return;
  root = makeRoot('chat');
  server = await startServer(root);
  browser = await openBrowser('chat-export');
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

test('the quickstart trained from the Train tab answers in the Chat tab', { skip: skipReason }, async () => {
  await page.goto(server.url);
  await page.fill('input[name=config-path]', 'examples/quickstart.yaml');
  await page.click('[data-testid=config-load]');
  await page.waitForFunction(() =>
    (document.querySelector('[data-key=output_dir] input') as HTMLInputElement | null)?.value === 'saves/quickstart');
  await page.waitForFunction(() => !(document.querySelector('[data-testid=start]') as HTMLButtonElement).disabled,
    undefined, { timeout: 20_000 });
  await browser.shot('quickstart-loaded');
  await page.click('[data-testid=start]');
  await page.waitForFunction(() => document.querySelector('[data-testid=run-state]')?.textContent === 'finished',
    undefined, { timeout: 240_000 });
  await browser.shot('quickstart-trained');

  await page.click('[data-tab=chat]');
  await page.fill('input[name=chat-dir]', 'saves/quickstart');
  await page.click('[data-testid=chat-load]');
  await page.waitForSelector('[data-testid=chat-status].ok', { timeout: 60_000 });
  await page.fill('textarea[name=chat-input]', 'Who are you?');
  await page.keyboard.press('Enter');
  const reply = page.locator('[data-testid=chat-log] [data-role=assistant]');
  await reply.waitFor({ timeout: 60_000 });
  assert.equal((await reply.textContent())?.trim(), ANSWER);
  await browser.shot('chat-answer');
  await page.click('[data-testid=chat-unload]');
  await page.waitForFunction(() => document.querySelector('[data-testid=chat-status]')?.classList.contains('muted'));
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
