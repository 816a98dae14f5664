// The Retune Board in a real browser (Debian's Chromium) on the quickstart model and data: fill the Train form, Start,
// watch progress and the loss chart grow, Stop at a checkpoint; change the learning rate and see the resume plan,
// Start, and find the plan's LR curve in trainer_log.jsonl; change the LR of a running job, stop, resume, and find
// the change in every later step; the Runs page shows both runs. Screenshots of each state:
// dist/test-output/webui/train/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { PlanResponse } from '../../src/server/webui/api-types.js';
import { logRows, makeRoot, openBrowser, skipReason, startServer, stepRows, type Browser, type Server } from './webui-helpers.js';

let root = '';
let server: Server;
let browser: Browser;
let page: Page;

before(async () => {
  if (skipReason !== false) return;
  root = makeRoot('train');
  server = await startServer(root);
  browser = await openBrowser('train');
  page = browser.page;
  page.on('response', (r) => {
    if (!r.url().endsWith('/api/runs/plan') || !r.ok()) return;
    const body = r.json() as Promise<PlanResponse>;
    body.catch(() => undefined); // a body still in flight when the browser closes is never awaited
    plans.push(body);
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

// Types into a config key's field and leaves it, as a user does (the form reads a field when it changes).
async function setKey(key: string, value: string): Promise<void> {
  const field = page.locator(`[data-key=${key}]`).first();
  if (!(await field.isVisible())) await field.evaluate((el) => (el.closest('details') as HTMLDetailsElement).open = true);
  const select = field.locator('select');
  if (await select.count() > 0) await select.selectOption(value);
  else {
    await field.locator('input').fill(value);
    await field.locator('input').press('Tab');
  }
}

async function stepShown(): Promise<number> {
  return Number(await page.getAttribute('[data-testid=progress]', 'data-step'));
}

async function waitForStep(atLeast: number): Promise<void> {
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=progress]')?.getAttribute('data-step')) >= n,
    atLeast, { timeout: 60_000 });
}

async function waitForState(state: string): Promise<void> {
  await page.waitForFunction((s) => document.querySelector('[data-testid=run-state]')?.textContent === s, state,
    { timeout: 120_000 });
}

// Every plan the page received, in order: once the page shows what a test waits for, the last one is what it shows
// (the page drops answers to requests that newer form changes superseded, and so does latestPlan).
let plans: Promise<PlanResponse>[] = [];

async function latestPlan(): Promise<PlanResponse> {
  for (;;) {
    const count = plans.length;
    await new Promise((r) => setTimeout(r, 600)); // longer than the page's 300 ms debounce
    if (plans.length === count && count > 0) return plans[count - 1];
  }
}

// The LR the plan says step `step` runs with (a plan point at s is the LR of step s + 1).
function plannedLr(plan: PlanResponse, step: number): number | undefined {
  return [...plan.lr.done, ...plan.lr.planned].find((p) => p.step + 1 === step)?.lr;
}

// The LR chart's legend with the cursor on step `step` of a chart whose x axis runs from step 1 to `last`: what the
// page draws there, by series label ('planned LR', 'logged LR').
async function lrChartAt(step: number, last: number): Promise<Record<string, string>> {
  const box = await page.locator('[data-testid=chart-lr] .u-over').boundingBox();
  assert.ok(box !== null, 'the LR chart is not drawn');
  await page.mouse.move(box.x + 1 + ((step - 1) / (last - 1)) * (box.width - 2), box.y + box.height / 2);
  return page.$$eval('[data-testid=chart-lr] .u-legend tr.u-series', (rows) => Object.fromEntries(rows.map((r) =>
    [r.querySelector('th')?.textContent?.trim() ?? '', r.querySelector('td')?.textContent?.trim() ?? ''])));
}

async function startAndCheckEnabled(): Promise<void> {
  await page.waitForFunction(() => !(document.querySelector('[data-testid=start]') as HTMLButtonElement).disabled,
    undefined, { timeout: 20_000 });
  await page.click('[data-testid=start]');
}

test('fill the Train form, Start, see progress and the loss chart grow, Stop at a checkpoint', { skip: skipReason }, async () => {
  await page.goto(server.url);
  await page.waitForSelector('[data-key=model_name_or_path] input');
  // For the README: time from navigation start to a usable form, and the bytes the page itself transferred.
  const load = await page.evaluate(() => ({
    usableMs: Math.round(performance.now()),
    bytes: [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]
      .filter((e) => !e.name.includes('/api/'))
      .reduce((sum, e) => sum + (e as PerformanceResourceTiming).transferSize, 0),
  }));
  console.log(`# form usable ${load.usableMs} ms after navigation start; page transferred ${load.bytes} bytes`);
  await browser.shot('empty-form');
  await page.selectOption('select[name=lang]', 'zh');
  assert.equal(await page.textContent('[data-tab=train]'), '训练');
  assert.equal(await page.textContent('[data-group=training] summary >> nth=0').then((t) => t?.split(' ')[0]), '训练');
  await browser.shot('chinese');
  await page.selectOption('select[name=lang]', 'en');
  assert.equal(await page.textContent('[data-tab=train]'), 'Train');

  await setKey('model_name_or_path', 'examples/models/tiny-stories');
  await page.waitForSelector('[data-testid=model-info]');
  assert.match(await page.textContent('[data-testid=model-info]') ?? '', /llama · 0\.\d+M/);
  await setKey('template', 'chatml');
  await setKey('dataset_dir', 'examples/data');
  await page.check('input[name=dataset-identity]');
  await page.click('button[data-preview=identity]');
  await page.waitForSelector('[data-testid=dataset-preview]');
  assert.match(await page.textContent('[data-testid=dataset-preview]') ?? '', /Who are you\?/);
  assert.match(await page.textContent('[data-testid=dataset-preview]') ?? '', /\d+ tokens/);
  for (const [key, value] of Object.entries({
    per_device_train_batch_size: '4', learning_rate: '0.002', max_steps: '400', lr_scheduler_type: 'cosine',
    warmup_steps: '4', logging_steps: '1', save_steps: '5', cutoff_len: '128', output_dir: 'saves/e2e',
  })) await setKey(key, value);
  await page.click('[data-testid=preview-command]');
  await page.waitForSelector('[data-testid=command]');
  assert.match(await page.textContent('[data-testid=command] pre') ?? '', /retune train .*saves\/e2e\/training_args\.yaml/);
  await page.waitForSelector('[data-testid=fresh-plan] [data-testid=plan][data-kind=fresh]');
  await browser.shot('form-filled');

  await startAndCheckEnabled();
  await waitForStep(3);
  const pointsEarly = Number(await page.getAttribute('[data-testid=chart-loss]', 'data-points'));
  await waitForStep(pointsEarly + 4);
  const pointsLater = Number(await page.getAttribute('[data-testid=chart-loss]', 'data-points'));
  assert.ok(pointsLater > pointsEarly, `loss chart did not grow (${pointsEarly} -> ${pointsLater})`);
  await browser.shot('running');

  // A reopened page reattaches to the run: its config back in the form, progress and charts from the whole log. No
  // error shows on the way (the empty form's default dataset_dir, which does not exist here, is never looked up).
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { shownErrors: string[] }).shownErrors = seen;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll<HTMLElement>('.error')) {
        if (el.offsetParent !== null && !seen.includes(el.textContent ?? '')) seen.push(el.textContent ?? '');
      }
    }).observe(document, { childList: true, subtree: true, characterData: true });
  });
  const before = await stepShown();
  await page.reload();
  await page.waitForSelector('[data-testid=run-view]');
  await waitForStep(before + 1);
  await page.waitForFunction(() => ['output_dir', 'learning_rate'].map((k) =>
    (document.querySelector(`[data-key=${k}] input`) as HTMLInputElement).value).join() === 'saves/e2e,0.002');
  await page.waitForSelector('[data-testid=datasets] input[name=dataset-identity]:checked');
  assert.deepEqual(await page.evaluate(() => (window as unknown as { shownErrors: string[] }).shownErrors), []);
  await browser.shot('reattached');

  await waitForStep(6);
  await page.click('[data-testid=stop]');
  await waitForState('stopped');
  // The "Stopping" line speaks of a running run: it goes once the run has stopped.
  await page.getByText('Stopping: the run finishes its step').waitFor({ state: 'detached' });
  const stoppedAt = await stepShown();
  // The resume panel lists the checkpoint the stop saved (it refreshes when the run's state changes).
  await page.getByRole('cell', { name: `checkpoint-${stoppedAt}`, exact: true }).waitFor();
  await browser.shot('stopped');
  assert.ok(stoppedAt > 0 && stoppedAt < 400, `stopped at ${stoppedAt}`);
  assert.ok(existsSync(join(root, 'saves/e2e', `checkpoint-${stoppedAt}`, 'manifest.json')),
    `no checkpoint at the stop step ${stoppedAt}: ${readdirSync(join(root, 'saves/e2e')).join(', ')}`);
});

test('change the learning rate: the plan shows it, Start runs exactly the plan\'s LR curve', { skip: skipReason }, async () => {
  await page.waitForSelector('[data-testid=resume-panel] [data-testid=checkpoints]');
  const checkpoint = Math.max(...[...stepRows(join(root, 'saves/e2e')).keys()]);
  await setKey('learning_rate', '0.0005');
  // The max_steps change shortens the rest of the run; it shows in the plan next to the LR.
  await setKey('max_steps', String(checkpoint + 12));
  await page.waitForSelector('[data-testid=plan-rows] tr[data-field=learning_rate]');
  await page.waitForSelector('[data-testid=plan-rows] tr[data-field=max_steps]');
  const shown = await latestPlan();
  assert.equal(shown.kind, 'resume');
  assert.equal(shown.refusal, null);
  assert.ok(shown.rows.some((r) => r.field === 'learning_rate' && r.new === 0.0005), JSON.stringify(shown.rows));
  assert.ok(shown.lr.planned.length > 0 && shown.lr.changeAt !== null);
  await page.waitForSelector('[data-testid=plan-lr-chart] canvas');
  await browser.shot('plan');
  await browser.shotOf('[data-testid=resume-panel]', 'resume-panel');

  await startAndCheckEnabled();
  await waitForState('finished');
  await page.waitForSelector(`[data-checkpoint=checkpoint-${checkpoint + 12}]`); // the last step is always saved
  await browser.shot('resumed-finished');
  const rows = stepRows(join(root, 'saves/e2e'));
  const after = [...rows.values()].filter((r) => r.current_steps > shown.step);
  assert.equal(after.length, 12);
  for (const row of after) {
    assert.equal(row.lr, plannedLr(shown, row.current_steps), `step ${row.current_steps}: logged LR vs the plan's`);
  }
});

test('change the LR of a running job, stop and resume: every later step runs with the new LR', { skip: skipReason }, async () => {
  for (const [key, value] of Object.entries({
    output_dir: 'saves/live', lr_scheduler_type: 'constant', learning_rate: '0.001', max_steps: '60', warmup_steps: '0',
  })) await setKey(key, value);
  await page.waitForSelector('[data-testid=fresh-plan] [data-testid=plan][data-kind=fresh]');
  await startAndCheckEnabled();
  await page.waitForSelector('[data-testid=run-view][data-dir="saves/live"]');
  await waitForStep(3);
  await page.fill('input[name=live-lr]', '0.0002');
  await page.fill('input[name=live-ramp]', '0');
  await page.click('[data-testid=live-lr] button');
  await page.waitForSelector('[data-testid=live-lr-message].ok');
  const dir = join(root, 'saves/live');
  const changeRow = async () => logRows(dir).find((r) => r.event === 'lr_change');
  for (let i = 0; i < 200 && (await changeRow()) === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  const change = await changeRow();
  assert.ok(change !== undefined, 'no lr_change event in trainer_log.jsonl');
  const changedAt = change.current_steps as number;
  await waitForStep(changedAt + 3);
  // The running chart's planned curve is redrawn from the LR history with the change: it meets the logged LR on the
  // steps run since, and runs at the new LR to the last step.
  await page.waitForFunction(() => document.querySelector('[data-testid=chart-lr]') !== null);
  for (let i = 0; i < 50 && (await lrChartAt(60, 60))['planned LR'] !== '0.0002'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await lrChartAt(60, 60), { step: '60', 'planned LR': '0.0002', 'logged LR': '—' });
  for (const step of [changedAt, changedAt + 1, changedAt + 2]) {
    const shown = await lrChartAt(step, 60);
    assert.equal(shown['planned LR'], shown['logged LR'], `step ${step}: ${JSON.stringify(shown)}`);
    assert.equal(shown['logged LR'], step > changedAt ? '0.0002' : '0.001', `step ${step}`);
  }
  await browser.shot('live-lr-changed');
  await page.click('[data-testid=stop]');
  await waitForState('stopped');
  const stoppedAt = await stepShown();

  plans = [];
  await page.waitForSelector('[data-testid=plan][data-kind=resume]');
  const resumePlan = await latestPlan();
  assert.equal(resumePlan.kind, 'resume');
  await browser.shot('live-lr-resume-plan');
  await startAndCheckEnabled();
  await waitForState('finished');
  await page.waitForSelector('[data-checkpoint=checkpoint-60]');
  await browser.shot('live-lr-finished');

  const rows = stepRows(dir);
  assert.equal(rows.size, 60);
  for (const row of rows.values()) {
    const expected = row.current_steps > changedAt ? 0.0002 : 0.001;
    assert.equal(row.lr, expected, `step ${row.current_steps} (change at ${changedAt}, stop at ${stoppedAt})`);
    assert.equal(row.lr, plannedLr(resumePlan, row.current_steps), `step ${row.current_steps}: logged LR vs the plan's`);
  }
});

test('the Runs page lists both runs with their state and draws their losses on one chart', { skip: skipReason }, async () => {
  await page.click('[data-tab=runs]');
  await page.waitForSelector('[data-testid=runs] tr[data-run="saves/live"]');
  for (const dir of ['saves/e2e', 'saves/live']) {
    assert.match(await page.textContent(`[data-testid=runs] tr[data-run="${dir}"]`) ?? '', /finished/);
  }
  await page.waitForSelector('[data-testid=chart-runs] canvas');
  const legend = await page.locator('[data-testid=chart-runs] .u-legend').textContent();
  assert.ok(legend?.includes('saves/e2e') && legend.includes('saves/live'), legend ?? '');
  await browser.shot('runs');
  await page.click('[data-testid=runs] tr[data-run="saves/e2e"] button');
  await page.waitForFunction(() =>
    (document.querySelector('[data-key=output_dir] input') as HTMLInputElement | null)?.value === 'saves/e2e');
});
