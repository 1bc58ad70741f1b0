import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { scrapingEventSchema } from '../../shared/events.js';
import { createScrapeQueue, enqueueScrape } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { AUTH_ON, createKey } from '../helpers/auth.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
/** A date `days` ahead as the page shows it: "1 May", with the year "1 May 2027". */
const day = (days: number, withYear = false) =>
  new Date(`${inDays(days)}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', ...(withYear ? { year: 'numeric' } : {}), timeZone: 'UTC' });
/** A date range as the page's header shows it: the year on both ends only when they differ. */
const range = (from: number, to: number) => `${day(from, inDays(from).slice(0, 4) !== inDays(to).slice(0, 4))} – ${day(to, true)}`;

/**
 * The JavaScript client of the original document ("WebSocket Real-Time Updates", JavaScript
 * Example), verbatim but for its first two lines (job id and gateway URL). It runs with a
 * `console` and UI stubs that record into window.events instead of printing.
 */
const SEED_CLIENT = (jobId: number, port: number, query = '') => `
const jobId = ${jobId};
const ws = new WebSocket(\`ws://127.0.0.1:${port}/ws/scraping/\${jobId}${query}\`);

ws.onopen = () => {
  console.log('Connected to scraping job', jobId);
};

ws.onmessage = (event) => {
  const data = JSON.parse(event.data);

  console.log(\`[\${data.event_type}] \${data.message}\`);
  console.log(\`Progress: \${data.progress}%\`);
  console.log(\`Results: \${data.results_count}\`);

  // Update UI
  updateProgressBar(data.progress);
  updateResultsCount(data.results_count);

  // Handle completion
  if (data.event_type === 'job_completed') {
    console.log('Job finished successfully!');
    ws.close();
  }
};

ws.onerror = (error) => {
  console.error('WebSocket error:', error);
};

ws.onclose = () => {
  console.log('WebSocket closed');
};
`;

/** With access control on, the seed's client adds `?token=…` (the job's watch token) to its URL: `query`. */
const SEED_PAGE = (jobId: number, port: number, query = '') => `<!doctype html>
<meta charset="utf-8"><title>seed client</title>
<script>
  window.events = [];
  const record = (kind) => (...args) => window.events.push({ kind, args: args.map((a) => (typeof a === 'object' ? String(a) : a)) });
  // The stubs the seed example leaves to its reader, recording instead of drawing.
  function updateProgressBar(progress) { window.events.push({ kind: 'progress', args: [progress] }); }
  function updateResultsCount(count) { window.events.push({ kind: 'results', args: [count] }); }
  (function (console) {
    // Every frame as received, for the comparison with the job's history.
    const Native = WebSocket;
    window.WebSocket = class extends Native {
      constructor(url) {
        super(url);
        this.addEventListener('message', (e) => window.events.push({ kind: 'frame', args: [e.data] }));
      }
    };
    ${SEED_CLIENT(jobId, port, query)}
  })({ log: record('log'), error: record('error') });
</script>`;

describe('in headless Chromium', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let browser: Browser;
  let port: number;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    const env = serviceEnv(
      { databaseUrl: database.url, keyPrefix: redis.keyPrefix },
      // Slow enough searches, two at a time, that the page sees the job move.
      { PORT: '0', SCRAPER_LATENCY_MS: '150', ORCHESTRATOR_CONCURRENCY: '2' },
    );
    [gateway, worker, browser] = await Promise.all([
      startService('gateway', env),
      startService('worker', env),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      }),
    ]);
    port = await gatewayPort(gateway);
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all([gateway?.stop(), worker?.stop()]);
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  async function newPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    (page as Page & { problems: string[] }).problems = problems;
    return page;
  }
  const problemsOf = (page: Page) => (page as Page & { problems: string[] }).problems;

  it("the original document's JavaScript client logs every event of a job, in order, ending in job_completed", async () => {
    // The job exists but is not queued yet, so the client is connected before its first event.
    const job = await insertPendingJob(database.db, {
      origins: ['MUC'],
      destinations: ['BCN'],
      date_ranges: [['2027-03-01', '2027-03-08']],
      scrapers: ['sim-ryanair', 'sim-kiwi'],
    });
    const page = await newPage();
    await page.setContent(SEED_PAGE(job.id, port));
    await page.waitForFunction(() => (window as unknown as { events: { kind: string }[] }).events.some((e) => e.kind === 'frame'));

    const queueConnection = redis.redis.duplicate({ maxRetriesPerRequest: null });
    const queue = createScrapeQueue(testConfig({ KEY_PREFIX: redis.keyPrefix }), queueConnection);
    await enqueueScrape(queue, job.id);
    await queue.close();
    queueConnection.disconnect();

    await page.waitForFunction(
      () => (window as unknown as { events: { args: unknown[] }[] }).events.some((e) => e.args[0] === 'WebSocket closed'),
      undefined,
      { timeout: 30_000 },
    );
    const events = await page.evaluate(() => (window as unknown as { events: { kind: string; args: unknown[] }[] }).events);
    const logs = events.filter((e) => e.kind === 'log').map((e) => e.args.join(' '));
    const frames = events.filter((e) => e.kind === 'frame').map((e) => String(e.args[0]));
    const received = frames.map((f) => scrapingEventSchema.parse(JSON.parse(f)));

    // The seed's own log: connected, then three lines per event, then its goodbye.
    expect(logs[0]).toBe(`Connected to scraping job ${job.id}`);
    expect(logs.slice(-2)).toEqual(['Job finished successfully!', 'WebSocket closed']);
    expect(logs.filter((l) => l.startsWith('['))).toEqual(received.map((e) => `[${e.event_type}] ${e.message}`));
    expect(events.filter((e) => e.kind === 'error')).toEqual([]);

    // A snapshot first, then the job from job_started to job_completed, seq 1..n, as Redis holds it.
    expect(received[0]).toMatchObject({ seq: 0, message: `Connected to job ${job.id}`, metadata: { snapshot: true } });
    const stream = received.slice(1);
    expect(stream.map((e) => e.seq)).toEqual(stream.map((_, i) => i + 1));
    expect(stream[0]!.event_type).toBe('job_started');
    expect(stream.at(-1)!.event_type).toBe('job_completed');
    const types = new Set(stream.map((e) => e.event_type));
    for (const type of ['scraper_started', 'scraper_completed', 'results_updated', 'job_progress']) expect(types).toContain(type);
    const history = await redis.redis.lrange(new RedisKeys(redis.keyPrefix).jobHistory(job.id), 0, -1);
    expect(frames.slice(1)).toEqual(history);

    // The UI stubs saw every progress value and count, the last ones final.
    expect(events.filter((e) => e.kind === 'progress').at(-1)!.args).toEqual([100]);
    expect(events.filter((e) => e.kind === 'results').at(-1)!.args).toEqual([stream.at(-1)!.results_count]);
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it("the original document's JavaScript client ends at once on a job that has already finished", async () => {
    const done = await database.db.selectFrom('scraping_jobs').select(['id', 'items_scraped']).where('status', '=', 'completed').orderBy('id', 'desc').executeTakeFirstOrThrow();
    const page = await newPage();
    const started = Date.now();
    await page.setContent(SEED_PAGE(done.id, port));
    await page.waitForFunction(
      () => (window as unknown as { events: { args: unknown[] }[] }).events.some((e) => e.args[0] === 'WebSocket closed'),
      undefined,
      { timeout: 5_000 },
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    const events = await page.evaluate(() => (window as unknown as { events: { kind: string; args: unknown[] }[] }).events);
    const logs = events.filter((e) => e.kind === 'log').map((e) => e.args.join(' '));
    expect(logs.filter((l) => l.startsWith('['))).toEqual([`[job_progress] Connected to job ${done.id}`, expect.stringMatching(/^\[job_completed\] Job completed: /)]);
    expect(logs.slice(-2)).toEqual(['Job finished successfully!', 'WebSocket closed']);
    expect(events.filter((e) => e.kind === 'results').at(-1)!.args).toEqual([done.items_scraped]);
    await page.close();
  });

  it('the dashboard at / enqueues a search through its form and shows it reaching 100 %', async () => {
    const page = await newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await expect.poll(() => page.title()).toContain('scout-realtime');

    await page.getByLabel('From').fill('MUC, VIE');
    await page.getByLabel('To').fill('BCN');
    await page.getByLabel('Departure').fill(inDays(60));
    await page.getByLabel('Return').fill(inDays(68));
    await page.getByLabel('Kiwi.com').uncheck();
    await page.getByRole('button', { name: 'Start search' }).click();

    const percent = page.locator('#progress-text');
    await expect.poll(() => percent.textContent(), { timeout: 30_000 }).toBe('100 %');
    await expect.poll(() => page.locator('#connection').textContent()).toBe('finished');
    expect(await page.locator('#job-progress').evaluate((el) => (el as HTMLProgressElement).value)).toBe(100);
    expect(await page.locator('#job-status').textContent()).toBe('completed');
    expect(await page.locator('#job-progress').getAttribute('aria-labelledby')).toBe('progress-label');
    expect(await page.locator('#progress-label').getAttribute('aria-live')).toBe('polite');

    // The header says what is searched, in the form's words.
    expect(await page.locator('#job-search').textContent()).toBe(`MUC, VIE → BCN · ${range(60, 68)} · Ryanair, Wizz Air, Skyscanner`);
    // 2 routes × 1 date range × 3 sources: one row per source (named as in the form), each done.
    const rows = page.locator('#tasks tr');
    expect(await rows.count()).toBe(3);
    expect((await page.locator('#tasks td:first-child').allTextContents()).sort()).toEqual(['Ryanair', 'Skyscanner', 'Wizz Air']);
    expect(await page.locator('#tasks td:nth-child(2)').allTextContents()).toEqual(Array(3).fill('2 of 2'));
    expect(await page.locator('#tasks .pill').allTextContents()).toEqual(Array(3).fill('done'));
    expect(await page.locator('#tasks-done').textContent()).toBe('6 of 6');
    // The event log sits behind a "details" toggle, each entry a plain sentence first.
    expect(await page.locator('#log-details').getAttribute('open')).toBeNull();
    expect(await page.locator('#log .sentence').first().textContent()).toMatch(/^(Connected: the job is (pending|running)(, \d+ % done)?\.|The search started\.)$/);
    expect(await page.locator('#log .sentence').last().textContent()).toMatch(/^Finished: \d+ flights found\.$/);
    expect((await page.locator('#log .sentence').allTextContents()).join('\n')).not.toContain('sim-');
    const results = Number(await page.locator('#results-count').textContent());
    expect(results).toBeGreaterThan(0);
    // A snapshot of the still pending job may come first (the page connects right after the 202).
    const types = (await page.locator('#log .type').allTextContents()).filter((t, i) => !(i === 0 && t === 'snapshot'));
    expect(await page.locator('#log li.note').count()).toBe(0);
    expect(types[0]).toBe('job_started');
    expect(types.at(-1)).toBe('job_completed');
    const title = await page.locator('#job-title').textContent();
    expect(page.url()).toMatch(new RegExp(`#job=${title!.replace('Job #', '')}$`));

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    expect(problemsOf(page)).toEqual([]);
    await page.close();
  });

  it('the dashboard shows the field errors of a rejected search beside their fields', async () => {
    const page = await newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.getByLabel('From').fill('MUNICH');
    await page.getByLabel('To').fill('BCN');
    await page.getByLabel('Departure').fill(inDays(68));
    await page.getByLabel('Return').fill(inDays(60));
    for (const source of ['Ryanair', 'Wizz Air', 'Skyscanner', 'Kiwi.com']) await page.getByLabel(source).uncheck();
    await page.getByRole('button', { name: 'Start search' }).click();

    await expect.poll(() => page.locator('#origins-error').textContent()).toContain('3-letter IATA airport code');
    expect(await page.locator('#dates-error').textContent()).toContain('return date must not be before the departure date');
    expect(await page.locator('#scrapers-error').textContent()).toBe('name at least one fare source');
    expect(await page.getByLabel('From').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#job').isHidden()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-errors.png`, fullPage: true });
    await page.close();
  });

  it('watches an existing job by id, from its first event, and reports an unknown one', async () => {
    const page = await newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.getByLabel('Job id').fill('2000000000');
    await page.getByRole('button', { name: 'Watch' }).click();
    await expect.poll(() => page.locator('#job-title').textContent()).toBe('No job 2000000000');
    expect(await page.locator('#job-message').textContent()).toBe('There is no job 2000000000. Check the number, or start a new search.');
    for (const hidden of ['#job-status', '#job-progress', '#tasks', '#log-details']) expect(await page.locator(hidden).isVisible(), hidden).toBe(false);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-unknown-job.png`, fullPage: true });

    // The job of the previous test, finished by now: the page replays its history.
    const latest = await database.db.selectFrom('scraping_jobs').select('id').where('status', '=', 'completed').orderBy('id', 'desc').executeTakeFirstOrThrow();
    await page.getByLabel('Job id').fill(String(latest.id));
    await page.getByRole('button', { name: 'Watch' }).click();
    await expect.poll(() => page.locator('#progress-text').textContent()).toBe('100 %');
    const types = await page.locator('#log .type').allTextContents();
    expect(types[0]).toBe('job_started');
    expect(types.at(-1)).toBe('job_completed');
    await page.close();
  });

  it('serves a favicon at /favicon.ico', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/favicon.ico`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/svg+xml');
    expect(await response.text()).toMatch(/^<svg /);
  });

  it('serves the client SDK to the page bundled and compressed', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/client/job-stream.js`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/javascript');
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(await response.text()).toMatch(/export\s*\{[^}]*JobStream/);
  });
});

describe('in headless Chromium, with access control on', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let browser: Browser;
  let port: number;
  let key: string;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    key = await createKey(database.url, 'dashboard');
    const env = serviceEnv(
      { databaseUrl: database.url, keyPrefix: redis.keyPrefix },
      { ...AUTH_ON, PORT: '0', SCRAPER_LATENCY_MS: '100', ORCHESTRATOR_CONCURRENCY: '2' },
    );
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

  const rowCount = async () => Number((await database.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('the dashboard asks for a key, then enqueues with it and follows the job to 100 % under its CSP', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.getByLabel('To').fill('BCN');
    await page.getByLabel('Kiwi.com').uncheck();
    await page.getByLabel('Skyscanner').uncheck();
    await page.getByRole('button', { name: 'Start search' }).click();
    await expect.poll(() => page.locator('#api-key-error').textContent()).toContain('Enter an API key');
    expect(await rowCount()).toBe(0);

    await page.getByLabel('Key for this gateway').fill(key);
    await page.getByRole('button', { name: 'Start search' }).click();
    await expect.poll(() => page.locator('#progress-text').textContent(), { timeout: 30_000 }).toBe('100 %');
    await expect.poll(() => page.locator('#connection').textContent()).toBe('finished');
    expect(await page.locator('#job-status').textContent()).toBe('completed');

    // Watching by id mints a token with the key; a job that is not ours (here: none) is not found.
    const title = (await page.locator('#job-title').textContent())!.replace('Job #', '');
    await page.reload();
    await expect.poll(() => page.locator('#progress-text').textContent(), { timeout: 15_000 }).toBe('100 %');
    expect(page.url()).toContain(`#job=${title}`);
    await page.getByLabel('Job id').fill('2000000000');
    await page.getByRole('button', { name: 'Watch' }).click();
    await expect.poll(() => page.locator('#log').textContent()).toContain('Job 2000000000 not found');
    // The browser logs the refused POST (401) and the 404 of the token request itself; nothing else.
    expect(problems.filter((p) => !/status of (401|404)/.test(p))).toEqual([]);
    await page.close();
  });

  it("the original document's JavaScript client follows a job with ?token= added to its URL", async () => {
    // A job of the key's, not queued yet, so that the client is connected before its first event.
    const job = await insertPendingJob(database.db, { origins: ['MUC'], destinations: ['LIS'], date_ranges: [['2027-04-01', '2027-04-05']], scrapers: ['sim-ryanair'] });
    const owner = await database.db.selectFrom('api_keys').select('id').where('name', '=', 'dashboard').executeTakeFirstOrThrow();
    await database.db.updateTable('scraping_jobs').set({ owner_key_id: owner.id }).where('id', '=', job.id).execute();
    const minted = await fetch(`http://127.0.0.1:${port}/api/jobs/${job.id}/watch-tokens`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    const created = { body: { job_id: job.id, watch_token: ((await minted.json()) as { watch_token: string }).watch_token } };
    const page = await browser.newPage();
    await page.setContent(SEED_PAGE(created.body.job_id, port, `?token=${created.body.watch_token}`));
    await page.waitForFunction(() => (window as unknown as { events: { kind: string }[] }).events.some((e) => e.kind === 'frame'));
    const queueConnection = redis.redis.duplicate({ maxRetriesPerRequest: null });
    const queue = createScrapeQueue(testConfig({ KEY_PREFIX: redis.keyPrefix }), queueConnection);
    await enqueueScrape(queue, job.id);
    await queue.close();
    queueConnection.disconnect();
    await page.waitForFunction(
      () => (window as unknown as { events: { args: unknown[] }[] }).events.some((e) => e.args[0] === 'WebSocket closed'),
      undefined,
      { timeout: 30_000 },
    );
    const events = await page.evaluate(() => (window as unknown as { events: { kind: string; args: unknown[] }[] }).events);
    const logs = events.filter((e) => e.kind === 'log').map((e) => e.args.join(' '));
    expect(logs[0]).toBe(`Connected to scraping job ${created.body.job_id}`);
    expect(logs.slice(-2)).toEqual(['Job finished successfully!', 'WebSocket closed']);
    expect(events.filter((e) => e.kind === 'error')).toEqual([]);
    await page.close();
    // Without the token the same client is refused at the upgrade.
    const refusedPage = await browser.newPage();
    await refusedPage.setContent(SEED_PAGE(created.body.job_id, port));
    await refusedPage.waitForFunction(() => (window as unknown as { events: { args: unknown[] }[] }).events.some((e) => e.args[0] === 'WebSocket closed'));
    const refused = await refusedPage.evaluate(() => (window as unknown as { events: { kind: string }[] }).events);
    expect(refused.filter((e) => e.kind === 'frame')).toEqual([]);
    expect(refused.filter((e) => e.kind === 'error')).toHaveLength(1);
    await refusedPage.close();
  });
});
