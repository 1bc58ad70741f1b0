import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
const day = (days: number, withYear = false) =>
  new Date(`${inDays(days)}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', ...(withYear ? { year: 'numeric' } : {}), timeZone: 'UTC' });
/** A date range as the page's header shows it: the year on both ends only when they differ. */
const range = (from: number, to: number) => `${day(from, inDays(from).slice(0, 4) !== inDays(to).slice(0, 4))} – ${day(to, true)}`;

/** No worker runs here: every job enqueued stays in the queue. */
describe('a job nobody picks up is reported as queued', () => {
  let f: GatewayFixture;
  let browser: Browser;
  let first: number;
  let second: number;

  beforeAll(async () => {
    [f, browser] = await Promise.all([
      startGatewayFixture(),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] }),
    ]);
    const enqueue = async () => {
      const { status, body } = await httpJson(`http://${f.host}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ origins: ['MUC'], destinations: ['BCN'], date_ranges: [[inDays(30), inDays(37)]] }),
      });
      expect(status).toBe(202);
      return body.job_id as number;
    };
    first = await enqueue();
    second = await enqueue();
  });
  afterAll(async () => {
    await browser?.close();
    await f?.close();
  });

  it('(the gateway logged the URL it serves once ready)', () => {
    expect(f.gateway.lines.find((l) => l.msg === 'gateway listening')?.url).toBe(`http://${f.host}/`);
    expect(f.gateway.lines.some((l) => l.msg === `dashboard and API at http://${f.host}/`)).toBe(true);
  });

  it('by the status endpoint: since when, how long, its place in the queue', async () => {
    const { body } = await httpJson(`http://${f.host}/ws/scraping/${second}/status`);
    expect(body).toMatchObject({ status: 'pending', queue_position: 2, queue_length: 2, queued_seconds: expect.any(Number) });
    expect(Date.parse(body.queued_since)).toBeLessThanOrEqual(Date.now());
    expect((await httpJson(`http://${f.host}/ws/scraping/${first}/status`)).body).toMatchObject({ queue_position: 1, queue_length: 2 });
  });

  it('by the snapshot', async () => {
    const client = new RecordingClient(`ws://${f.host}/ws/scraping/${first}`);
    const snapshot = await client.waitForEvent(() => true);
    expect(snapshot).toMatchObject({ status: 'pending', metadata: { snapshot: true, queued: true, queue_position: 1, queue_length: 2, queued_since: expect.any(String) } });
    client.close();
  });

  it('by the CLI, after a few seconds without an event', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'shared/client/watch-cli.ts', String(second), '--url', `http://${f.host}`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    try {
      const started = Date.now();
      await expect.poll(() => stderr, { timeout: 10_000, interval: 100 }).toContain('waiting in the queue');
      expect(Date.now() - started).toBeGreaterThan(2_500);
      expect(stderr).toMatch(
        new RegExp(`^job ${second} is waiting in the queue \\(for \\d+ s, position 2 of 2\\): no worker has taken it yet — is a worker running\\? \\(npm run start:worker\\)\\n$`),
      );
    } finally {
      child.kill('SIGINT');
    }
  });

  it('by the page', async () => {
    const page = await browser.newPage();
    await page.goto(`http://${f.host}/#job=${first}`);
    // The page loads, connects and gets the snapshot: seconds on a loaded machine, not one.
    await expect.poll(() => page.locator('#job-status').textContent(), { timeout: 10_000 }).toBe('queued');
    await expect.poll(() => page.locator('#job-message').textContent(), { timeout: 10_000 }).toMatch(/^Waiting in the queue for \d+ s, number 1 of 2 in line: no worker has taken this job yet\.$/);
    expect(await page.locator('#job-search').textContent()).toBe(`MUC → BCN · ${range(30, 37)} · Ryanair, Wizz Air, Skyscanner, Kiwi.com`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-queued.png`, fullPage: true });
    await page.close();
  });
});
