import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RedisKeys } from '../../shared/redis/keys.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

/** n distinct made-up airport codes starting with a letter. */
const airports = (letter: string, n: number) => Array.from({ length: n }, (_, i) => `${letter}${String.fromCharCode(65 + i)}X`);

/** A date `days` from today (UTC), as YYYY-MM-DD. */
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
const valid = { origins: ['MUC'], destinations: ['BCN', 'lis'], date_ranges: [[inDays(60), inDays(67)]] };

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
    ['reversed dates', JSON.stringify({ ...valid, date_ranges: [[inDays(67), inDays(60)]] }), 'before the departure'],
    ['impossible date', JSON.stringify({ ...valid, date_ranges: [['2027-02-30', '2027-03-01']] }), 'YYYY-MM-DD'],
    ['too many routes', JSON.stringify({ ...valid, origins: airports('A', 10), destinations: airports('B', 10), date_ranges: [[inDays(60), inDays(67)], [inDays(90), inDays(97)]] }), 'too many searches'],
    ['unknown scraper', JSON.stringify({ ...valid, scrapers: ['sim-nope'] }), 'sim-ryanair'],
    ['unknown field', JSON.stringify({ ...valid, priority: 1 }), 'priority'],
    ['no adult', JSON.stringify({ ...valid, adults: 0 }), 'at least one adult'],
    ['negative children', JSON.stringify({ ...valid, children: -1 }), 'must not be negative'],
    ['bad currency', JSON.stringify({ ...valid, currency: 'EURO' }), 'ISO 4217'],
    ['non-JSON', '{"origins": [', 'not valid JSON'],
  ];

  it.each(badBodies)('refuses a body with %s: 400 naming the problem, nothing written', async (_name, body, problem) => {
    const before = await counts();
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(problem);
    expect(res.body.error.code).toEqual(expect.any(String));
    expect(await counts()).toEqual(before);
  });

  it('refuses a body that is not declared as exactly application/json: 415', async () => {
    for (const type of ['text/plain', 'application/json-patch+json', 'application/jsonx', '']) {
      const res = await post(JSON.stringify(valid), type);
      expect(res.status, type).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    expect((await post(JSON.stringify(valid), 'application/json; charset=utf-8')).status).toBe(202);
    expect((await post(JSON.stringify(valid), 'Application/JSON')).status).toBe(202);
  });

  it('refuses a body over MAX_BODY_BYTES with 413 BODY_TOO_LARGE, nothing written', async () => {
    const before = await counts();
    const res = await post(JSON.stringify({ ...valid, padding: 'x'.repeat(5000) }));
    expect(res).toMatchObject({ status: 413, body: { error: { code: 'BODY_TOO_LARGE', message: 'request body is larger than 4096 bytes' } } });
    expect(await counts()).toEqual(before);
  });

  it('answers a known path asked with the wrong method 405 with Allow, an unknown one 404', async () => {
    for (const [method, path, allow] of [
      ['GET', '/api/jobs', 'POST'],
      ['DELETE', '/api/jobs', 'POST'],
      ['POST', '/health', 'GET'],
      ['PUT', '/ws/scraping/1/status', 'GET'],
      ['POST', '/', 'GET'],
    ] as const) {
      const res = await fetch(`${base}${path}`, { method });
      expect([method, path, res.status, res.headers.get('allow')]).toEqual([method, path, 405, allow]);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
    }
    expect((await httpJson(`${base}/api/nope`)).body.error.code).toBe('NOT_FOUND');
    const plain = await httpJson(`${base}/ws/scraping/1`);
    expect(plain).toMatchObject({ status: 426, body: { error: { code: 'UPGRADE_REQUIRED' } } });
  });

  it('names a bad job id BAD_JOB_ID on the status endpoint and the WebSocket upgrade alike', async () => {
    const refusedUpgrade = (path: string) =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`);
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
        });
        ws.once('open', () => reject(new Error('upgrade accepted')));
        ws.once('error', () => undefined);
      });
    const status = await httpJson(`${base}/ws/scraping/12abc/status`);
    expect(status).toMatchObject({ status: 400, body: { error: { code: 'BAD_JOB_ID', message: 'job id must be a positive integer, got "12abc"' } } });
    expect(await refusedUpgrade('/ws/scraping/12abc')).toEqual(status);
    expect(await refusedUpgrade('/ws/scraping/1?last_seq=x')).toMatchObject({ status: 400, body: { error: { code: 'BAD_RESUME_POINT' } } });
  });

  /** The field errors of a body, or the status when it was accepted. */
  const fieldsOf = async (body: unknown) => {
    const res = await post(JSON.stringify(body));
    return res.status === 400 ? res.body.error.fields : res.status;
  };

  it('refuses a departure in the past or beyond 730 days ahead, field by field', async () => {
    expect(await fieldsOf({ ...valid, date_ranges: [['2024-01-10', '2024-01-17']] })).toEqual({
      'date_ranges.0': [expect.stringMatching(/^departure date 2024-01-10 is in the past \(today is \d{4}-\d\d-\d\d\)$/)],
    });
    expect(await fieldsOf({ ...valid, date_ranges: [['1970-01-01', '9999-12-31']] })).toEqual({
      'date_ranges.0': [expect.stringContaining('is in the past'), expect.stringContaining('return date 9999-12-31 is more than 730 days ahead')],
    });
    expect(await fieldsOf({ ...valid, date_ranges: [[inDays(800), inDays(807)]] })).toEqual({
      'date_ranges.0': [expect.stringContaining(`departure date ${inDays(800)} is more than 730 days ahead`)],
    });
    expect(await fieldsOf({ ...valid, date_ranges: [[inDays(0), inDays(0)], [inDays(720), inDays(725)]] })).toBe(202);
  });

  it('takes airport codes of ASCII letters only: no Unicode case folding', async () => {
    expect(await fieldsOf({ ...valid, origins: ['ıst'] })).toEqual({ 'origins.0': ['must be a 3-letter IATA airport code, e.g. "MUC"'] });
    expect(await fieldsOf({ ...valid, origins: ['Ｍuc'] })).toEqual({ 'origins.0': ['must be a 3-letter IATA airport code, e.g. "MUC"'] });
    expect(await fieldsOf({ ...valid, origins: [' ist '] })).toBe(202);
  });

  it('names a missing field "required" and counts the scrapers in the task limit', async () => {
    expect(await fieldsOf({ origins: ['MUC'] })).toEqual({ destinations: ['required'], date_ranges: ['required'] });
    const tooMany = { ...valid, origins: airports('A', 10), destinations: airports('B', 10), date_ranges: [[inDays(60), inDays(67)], [inDays(90), inDays(97)]] };
    expect(await fieldsOf(tooMany)).toEqual({ origins: ['too many searches: 100 routes × 2 date ranges × 4 scrapers is 800 tasks, at most 400'] });
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
