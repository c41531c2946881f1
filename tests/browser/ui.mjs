// Drives Debian's chromium through the web UI with playwright-core, as a newcomer would:
// log in, switch user_automation on, trigger it, watch the stored count rise and the latest
// users appear on the Pipeline page, see the run turn success in the grid, open the task's
// log, look at the topics, log out. Screenshots go to SHOTS_DIR when set.
// Env: UI_URL, UI_PASSWORD, PW_DIR (where playwright-core is installed), PROFILE_DIR.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.PW_DIR, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');

const base = process.env.UI_URL;
const shots = process.env.SHOTS_DIR || '';
const step = (msg) => console.log(`--- ${new Date().toISOString().slice(11, 19)} ${msg}`);
function fail(msg) {
  throw new Error(msg);
}

const ctx = await chromium.launchPersistentContext(process.env.PROFILE_DIR, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1360, height: 900 },
});
const page = ctx.pages()[0] || (await ctx.newPage());
page.setDefaultTimeout(30000);
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
const shot = async (name) => {
  if (shots) await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: false });
};

try {
  step('an unauthenticated visit goes to the login page');
  await page.goto(base + '/ui/dags');
  if (!page.url().includes('/ui/login')) fail('not sent to the login page: ' + page.url());
  await page.fill('#username', 'admin');
  await page.fill('#password', 'wrong');
  await page.click('#submit');
  await page.waitForSelector('#msg:has-text("Invalid")');

  step('log in');
  await page.fill('#password', process.env.UI_PASSWORD);
  await page.click('#submit');
  await page.waitForURL('**/ui/dags');
  const row = page.locator('tr[data-dag="user_automation"]');
  await row.waitFor();
  await page.waitForSelector('#whoami:has-text("admin")');
  await page.waitForSelector('#import-errors:has-text("broken.yaml")');

  step('switch user_automation on');
  const toggle = row.locator('input.pause-toggle');
  if (await toggle.isChecked()) fail('user_automation should start paused');
  await row.locator('label.switch').click();
  await page.waitForFunction(async () => {
    const r = await fetch('/api/v2/dags/user_automation', { credentials: 'same-origin' });
    return r.ok && (await r.json()).is_paused === false;
  });
  await page.reload();
  await page.locator('tr[data-dag="user_automation"] input.pause-toggle:checked').waitFor({ state: 'attached' });

  step('trigger it with a conf');
  await row.locator('button.trigger').click();
  await page.fill('#trigger-conf', '{"note": "from the browser test"}');
  await page.click('#trigger-go');
  await page.locator('tr[data-dag="user_automation"] .run-dot').first().waitFor();
  await shot('dags');

  step('Pipeline: the stored count rises and the latest users appear');
  await page.goto(base + '/ui/pipeline');
  const rows = async () => Number((await page.textContent('#rows')).replace(/[^0-9]/g, '') || 0);
  await page.waitForFunction(() => Number(document.getElementById('rows').textContent.replace(/[^0-9]/g, '') || 0) > 0,
    null, { timeout: 60000 });
  const first = await rows();
  await page.waitForFunction((n) => Number(document.getElementById('rows').textContent.replace(/[^0-9]/g, '') || 0) > n,
    first, { timeout: 60000 });
  const second = await rows();
  console.log(`stored rows: ${first} then ${second}`);
  await page.locator('#users tr.user-row').first().waitFor();
  const firstUser = await page.textContent('#users tr.user-row td:nth-child(2)');
  if (!/@/.test(firstUser)) fail('the latest users table shows no email: ' + firstUser);
  if (process.env.DLQ_EXPECTED === '1') {
    // the bad record the test produced, with the stream job's reason
    await page.locator('#dead td.error').first().waitFor({ timeout: 30000 });
    const reason = await page.textContent('#dead td.error');
    if (!reason.trim()) fail('a dead letter without its reason');
    console.log('dead letter reason: ' + reason.trim());
  }
  await page.waitForTimeout(8000); // let the charts draw a few seconds of points
  await shot('pipeline');

  step('the task log, tailed live while the task runs');
  await page.goto(base + '/ui/dags/user_automation');
  const link = page.locator('a.ti-link').first();
  await link.waitFor();
  const wasRunning = (await link.locator('.ti-cell').getAttribute('data-state')) === 'running';
  await link.click();
  await page.waitForURL('**/tasks/stream_data_from_api/log?try=1');
  if (wasRunning) {
    // the lines come in while the try runs, on this page, without a reload
    await page.waitForFunction(() => /streaming from/.test(document.getElementById('log').textContent));
    console.log('log: followed while the task was running');
  }
  await page.waitForFunction(() => /summary: fetched=/.test(document.getElementById('log').textContent),
    null, { timeout: 180000 });
  await page.waitForSelector('#state:has-text("success")', { timeout: 30000 });
  await shot('log');

  step('grid: the run turned success');
  await page.goto(base + '/ui/dags/user_automation');
  await page.locator('.run-cell[data-state="success"]').first().waitFor({ timeout: 180000 });
  await page.locator('.ti-cell[data-state="success"]').first().waitFor();
  await shot('grid');

  step('topics: users_created with its partitions and messages');
  await page.goto(base + '/ui/topics');
  const topicRow = page.locator('tr[data-topic="users_created"]');
  await topicRow.waitFor();
  const cells = await topicRow.locator('td').allTextContents();
  if (cells[4].trim() === '–' || cells[3].trim() === '–') fail('no size or retention: ' + cells.join(' | '));
  await topicRow.locator('button').click();
  await page.locator('#msgs tr.msg-row').first().waitFor();
  await shot('topics');

  step('log out');
  await page.click('#logout');
  await page.waitForURL('**/ui/login');
  await page.goto(base + '/ui/dags');
  if (!page.url().includes('/ui/login')) fail('still logged in after logout');
  if (errors.length) fail('errors in the page: ' + errors.join('; '));
  console.log('OK: login, toggle, trigger, pipeline, grid, log, topics, logout');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error('FAIL: ' + e.message);
  process.exitCode = 1;
} finally {
  await ctx.close();
}
