import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../shared/redis/keys.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

/** n distinct made-up airport codes starting with a letter. */
const airports = (letter: string, n: number) => Array.from({ length: n }, (_, i) => `${letter}${String.fromCharCode(65 + i)}X`);

const valid = { origins: ['MUC'], destinations: ['BCN', 'lis'], date_ranges: [['2027-03-01', '2027-03-08']] };

describe('gateway HTTP API', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let base: string;
  let queue: Queue;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: '0', MAX_BODY_BYTES: '4096' }));
    base = `http://127.0.0.1:${await gatewayPort(gateway)}`;
    queue = new Queue('scrape', { connection: redis.redis.duplicate(), prefix: new RedisKeys(redis.keyPrefix).bullmqPrefix });
  });
  afterAll(async () => {
    await gateway?.stop();
    await queue?.close();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  const post = (body: string, contentType = 'application/json') =>
    httpJson(`${base}/api/jobs`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const counts = async () => ({
    rows: Number((await database.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
    queued: await queue.count(),
  });

  it('enqueues a valid job: 202 with job_id, ws_url and status_url, one pending row, one queue entry', async () => {
    const before = await counts();
    const { status, body } = await post(JSON.stringify(valid));
    expect(status).toBe(202);
    expect(body).toEqual({
      job_id: expect.any(Number),
      status: 'pending',
      ws_url: expect.stringMatching(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/ws/scraping/${body.job_id}$`)),
      status_url: expect.stringMatching(new RegExp(`/ws/scraping/${body.job_id}/status$`)),
    });
    expect(await counts()).toEqual({ rows: before.rows + 1, queued: before.queued + 1 });
    const row = await database.db.selectFrom('scraping_jobs').selectAll().where('id', '=', body.job_id).executeTakeFirstOrThrow();
    expect(row.params).toEqual({ ...valid, destinations: ['BCN', 'LIS'], scrapers: ['sim-ryanair', 'sim-wizzair', 'sim-skyscanner', 'sim-kiwi'], adults: 2, children: 2, currency: 'EUR' });
  });

  it('stores the party and currency a family asks for', async () => {
    const { status, body } = await post(JSON.stringify({ ...valid, adults: 1, children: 3, currency: 'gbp' }));
    expect(status).toBe(202);
    const row = await database.db.selectFrom('scraping_jobs').select('params').where('id', '=', body.job_id).executeTakeFirstOrThrow();
    expect(row.params).toMatchObject({ adults: 1, children: 3, currency: 'GBP' });
  });

  const badBodies: [string, string, string | RegExp][] = [
    ['missing field', JSON.stringify({ origins: ['MUC'], date_ranges: valid.date_ranges }), 'destinations'],
    ['wrong type', JSON.stringify({ ...valid, origins: 'MUC' }), 'origins'],
    ['bad IATA code', JSON.stringify({ ...valid, origins: ['MU1'] }), 'IATA'],
    ['reversed dates', JSON.stringify({ ...valid, date_ranges: [['2027-03-08', '2027-03-01']] }), 'before the departure'],
    ['impossible date', JSON.stringify({ ...valid, date_ranges: [['2027-02-30', '2027-03-01']] }), 'YYYY-MM-DD'],
    ['too many routes', JSON.stringify({ ...valid, origins: airports('A', 10), destinations: airports('B', 10), date_ranges: [['2027-03-01', '2027-03-08'], ['2027-04-01', '2027-04-08']] }), 'too many routes'],
    ['unknown scraper', JSON.stringify({ ...valid, scrapers: ['sim-nope'] }), 'sim-ryanair'],
    ['unknown field', JSON.stringify({ ...valid, priority: 1 }), 'priority'],
    ['no adult', JSON.stringify({ ...valid, adults: 0 }), 'at least one adult'],
    ['negative children', JSON.stringify({ ...valid, children: -1 }), 'must not be negative'],
    ['bad currency', JSON.stringify({ ...valid, currency: 'EURO' }), 'ISO 4217'],
    ['non-JSON', '{"origins": [', 'not valid JSON'],
    ['oversized', JSON.stringify({ ...valid, padding: 'x'.repeat(5000) }), 'larger than 4096 bytes'],
  ];

  it.each(badBodies)('refuses a body with %s: 400 naming the problem, nothing written', async (_name, body, problem) => {
    const before = await counts();
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(problem);
    expect(res.body.error.code).toEqual(expect.any(String));
    expect(await counts()).toEqual(before);
  });

  it('refuses a body that is not declared as JSON', async () => {
    const res = await post(JSON.stringify(valid), 'text/plain');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('reports a job through the polling fallback; 404 when unknown, 400 for a non-integer id', async () => {
    const { body: created } = await post(JSON.stringify(valid));
    const { status, body } = await httpJson(`${base}/ws/scraping/${created.job_id}/status`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      job_id: created.job_id,
      job_type: 'flights',
      source: 'orchestrator',
      status: 'pending',
      items_scraped: 0,
      error_message: null,
      started_at: null,
      completed_at: null,
      duration_seconds: null,
      is_running: false,
      is_completed: false,
      is_failed: false,
    });
    expect((await httpJson(`${base}/ws/scraping/99999999/status`)).status).toBe(404);
    expect((await httpJson(`${base}/ws/scraping/12abc/status`)).status).toBe(400);
  });

  it('answers /health 200 when Redis and Postgres answer, and unknown routes with a JSON 404', async () => {
    const health = await httpJson(`${base}/health`);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', checks: { redis: { ok: true }, postgres: { ok: true } } } });
    const missing = await httpJson(`${base}/nope`);
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });
});
