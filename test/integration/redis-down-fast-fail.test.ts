import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { CLOSE_CODES } from '../../shared/protocol.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { RawWsClient } from '../helpers/raw-ws.js';
import { createTestDatabase, serviceEnv, type TestDatabase } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

const JOB = { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-01', '2027-01-02']], scrapers: ['sim-kiwi'] };

/** Milliseconds an action took, with its result. */
async function timed<T>(action: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await action();
  return { ms: performance.now() - started, value };
}

describe('Redis down: requests that need it fail fast', () => {
  let database: TestDatabase;
  let redisServer: PrivateRedis;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let port: number;

  beforeAll(async () => {
    [database, redisServer] = await Promise.all([createTestDatabase(), PrivateRedis.start()]);
    const env = serviceEnv({ databaseUrl: database.url, keyPrefix: 'ff:', redisUrl: redisServer.url }, { PORT: '0' });
    [gateway, worker] = await Promise.all([startService('gateway', env), startService('worker', env)]);
    port = await gatewayPort(gateway);
  });
  afterAll(async () => {
    await Promise.all([gateway?.stop(), worker?.stop()]);
    await redisServer?.stop();
    await database?.drop();
  });

  const post = () => httpJson(`http://127.0.0.1:${port}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(JOB) });
  const watch = async (jobId: number) => {
    const client = new RawWsClient(port, `/ws/scraping/${jobId}`);
    return client.closed;
  };

  it('answers 503 and closes a new WebSocket 4003 within 3 s while Redis is down, and serves both again once it is back', async () => {
    const pending = (await insertPendingJob(database.db, JOB as Parameters<typeof insertPendingJob>[1])).id;
    await redisServer.stop();
    // Let the gateway notice (its connections see the reset at once on loopback).
    await new Promise((r) => setTimeout(r, 300));

    const created = await timed(post);
    expect(created.value.status).toBe(503);
    expect(created.value.body.error.code).toBe('UNAVAILABLE');
    expect(created.ms).toBeLessThan(3000);
    // The row of the job that could not be queued was removed again: no pending job left behind.
    const rows = await database.db.selectFrom('scraping_jobs').select('id').execute();
    expect(rows.map((r) => r.id)).toEqual([pending]);

    const joined = await timed(() => watch(pending));
    expect(joined.value).toBe(CLOSE_CODES.UNAVAILABLE);
    expect(joined.ms).toBeLessThan(3000);

    // Neither process hung or died: both say Redis is gone, and stay up.
    expect(gateway.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    await gateway.waitForLog((l) => l.msg === 'redis connection error', 3000);
    await worker.waitForLog((l) => l.msg === 'redis connection error', 3000);

    await redisServer.restart();
    await expect.poll(async () => (await httpJson(`http://127.0.0.1:${port}/health`)).status, { timeout: 15_000, interval: 200 }).toBe(200);
    const again = await post();
    expect(again.status).toBe(202);
    // The worker picks the job up again: it runs to completion.
    await expect
      .poll(async () => (await database.db.selectFrom('scraping_jobs').select('status').where('id', '=', again.body.job_id).executeTakeFirst())?.status, {
        timeout: 20_000,
        interval: 200,
      })
      .toBe('completed');
    const client = new RawWsClient(port, `/ws/scraping/${again.body.job_id}`);
    await client.opened;
    client.destroy();
  }, 60_000);

  it('bounds the wait on a hung Redis (connections open, nothing answered): 503 and 4003, not silence', async () => {
    const pending = (await insertPendingJob(database.db, JOB as Parameters<typeof insertPendingJob>[1])).id;
    redisServer.pause();
    try {
      const [created, joined] = await Promise.all([timed(post), timed(() => watch(pending))]);
      expect(created.value.status).toBe(503);
      expect(joined.value).toBe(CLOSE_CODES.UNAVAILABLE);
      // Each Redis call gives up after 2.5 s; a POST waits on up to three in turn (the rate limit,
      // whose failure lets the request through, then the enqueue): bounded, though not 2 s.
      expect(created.ms).toBeLessThan(10_000);
      expect(joined.ms).toBeLessThan(4000);
    } finally {
      redisServer.resume();
    }
    await expect.poll(async () => (await post()).status, { timeout: 15_000, interval: 300 }).toBe(202);
  }, 60_000);
});
