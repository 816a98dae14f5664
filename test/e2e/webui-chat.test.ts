// The Retune Board's Chat tab in a real browser: the quickstart config loaded into the Train form and trained in
// full, then the Chat tab loads the run's output dir and answers the quickstart question as the README says, streamed.
// Screenshots: dist/test-output/webui/chat/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { makeRoot, openBrowser, skipReason, startServer, type Browser, type Server } from './webui-helpers.js';

const ANSWER = 'I am Retune Quickstart, a tiny language model trained by the Retune project. I can tell short stories.';

let server: Server;
let browser: Browser;
let page: Page;

before(async () => {
  if (skipReason !== false) return;
  server = await startServer(makeRoot('chat'));
  browser = await openBrowser('chat');
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the quickstart trained from the Train tab answers in the Chat tab', { skip: skipReason }, async () => {
  await page.goto(server.url);
  await page.fill('input[name=config-path]', 'examples/quickstart.yaml');
  await page.click('[data-testid=config-load]');
  await page.waitForFunction(() =>
    (document.querySelector('[data-key=output_dir] input') as HTMLInputElement | null)?.value === 'saves/quickstart');
  await page.waitForSelector('[data-testid=fresh-plan] [data-testid=plan][data-kind=fresh]');
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
