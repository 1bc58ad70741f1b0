import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bestOffersOf } from '../../shared/best-offers.js';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createScrapeQueue, enqueueScrape } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { jobHistory } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

describe('best deals on the dashboard, in headless Chromium', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let browser: Browser;
  let port: number;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    // Slow enough searches, two at a time, that the table fills while the page watches.
    const env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: '0', SCRAPER_LATENCY_MS: '250', ORCHESTRATOR_CONCURRENCY: '2' });
    [gateway, worker, browser] = await Promise.all([
      startService('gateway', env),
      startService('worker', env),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] }),
    ]);
    port = await gatewayPort(gateway);
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all([gateway?.stop(), worker?.stop()]);
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('fills the best-deals table while the job runs, updates it in place and links to the bookings', async () => {
    const job = await insertPendingJob(database.db, { origins: ['MUC', 'VIE'], destinations: ['BCN'], date_ranges: [['2027-05-01', '2027-05-09']], scrapers: ['sim-ryanair', 'sim-wizzair', 'sim-skyscanner', 'sim-kiwi'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, reducedMotion: 'reduce' });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`http://127.0.0.1:${port}/#job=${job.id}`);
    await page.waitForSelector('#best-deals-rows tr.empty');
    // Every state of the table the page goes through, with the job's status at that moment.
    await page.evaluate(() => {
      const w = window as unknown as { tableStates: { status: string; totals: string[] }[] };
      w.tableStates = [];
      const body = document.getElementById('best-deals-rows')!;
      new MutationObserver(() => {
        const totals = Array.from(body.querySelectorAll('tr:not(.empty)')).map((row) => (row as HTMLTableRowElement).cells[0]!.textContent ?? '');
        w.tableStates.push({ status: document.getElementById('job-status')!.textContent ?? '', totals });
      }).observe(body, { childList: true, subtree: true, characterData: true });
    });

    const queueConnection = redis.redis.duplicate({ maxRetriesPerRequest: null });
    const queue = createScrapeQueue(testConfig({ KEY_PREFIX: redis.keyPrefix }), queueConnection);
    await enqueueScrape(queue, job.id);
    await queue.close();
    queueConnection.disconnect();

    // Mid-run: deals on screen while the job is still running.
    await page.waitForFunction(
      () => document.querySelectorAll('#best-deals-rows tr:not(.empty)').length >= 2 && document.getElementById('job-status')!.textContent === 'running',
      undefined,
      { timeout: 20_000 },
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}best-deals-running.png`, fullPage: true });

    await page.waitForFunction(() => document.getElementById('job-status')!.textContent === 'completed', undefined, { timeout: 30_000 });
    await page.screenshot({ path: `${ARTIFACTS}best-deals-completed.png`, fullPage: true });

    const states = await page.evaluate(() => (window as unknown as { tableStates: { status: string; totals: string[] }[] }).tableStates);
    const running = states.filter((s) => s.status === 'running' && s.totals.length > 0);
    expect(running.length).toBeGreaterThanOrEqual(2);
    expect(new Set(running.map((s) => s.totals.join(' '))).size).toBeGreaterThanOrEqual(2); // it changed as offers came in

    // At the end: the five cheapest of the job, as its last results_updated carried them, with links.
    const history = await jobHistory(redis.redis, new RedisKeys(redis.keyPrefix), job.id);
    const best = bestOffersOf(history.filter((e) => e.event_type === 'results_updated').at(-1)!.metadata)!;
    expect(best).toHaveLength(5);
    const rows = page.locator('#best-deals-rows tr');
    expect(await rows.count()).toBe(5);
    const cells = await rows.evaluateAll((trs) => trs.map((tr) => Array.from((tr as HTMLTableRowElement).cells, (c) => c.textContent)));
    expect(cells.map((c) => c[0])).toEqual(best.map((o) => `${o.total_price.toFixed(2)} EUR`));
    expect(cells.map((c) => c[1])).toEqual(best.map((o) => `${o.price_per_person.toFixed(2)} EUR`));
    expect(cells.map((c) => c[2])).toEqual(best.map((o) => o.route));
    const labels: Record<string, string> = { 'sim-ryanair': 'Ryanair', 'sim-wizzair': 'Wizz Air', 'sim-skyscanner': 'Skyscanner', 'sim-kiwi': 'Kiwi.com' };
    expect(cells.map((c) => c[6])).toEqual(best.map((o) => labels[o.source]));
    const totals = best.map((o) => o.total_price);
    expect(totals).toEqual([...totals].sort((a, b) => a - b));
    const links = await page.locator('#best-deals-rows a').evaluateAll((as) => as.map((a) => [(a as HTMLAnchorElement).href, (a as HTMLAnchorElement).target]));
    expect(links).toEqual(best.map((o) => [o.booking_url, '_blank']));
    expect(problems).toEqual([]);
    await page.close();
  });
});
