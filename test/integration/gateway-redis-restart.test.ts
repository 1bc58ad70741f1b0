import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, serviceEnv, type TestDatabase } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

const progress = (p: number): EventDraft => ({
  event_type: 'job_progress', status: 'running', progress: p, results_count: p, message: null, metadata: {}, timestamp: new Date().toISOString(),
});

describe('gateway under a Redis restart', () => {
  let database: TestDatabase;
  let redisServer: PrivateRedis;
  let gateway: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    [database, redisServer] = await Promise.all([createTestDatabase(), PrivateRedis.start()]);
    gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: 'rr:', redisUrl: redisServer.url }, { PORT: '0' }));
    base = `127.0.0.1:${await gatewayPort(gateway)}`;
  });
  afterAll(async () => {
    await gateway?.stop();
    await redisServer?.stop();
    await database?.drop();
  });

  it('reports Redis down in /ws/stats and /health, reconnects, resubscribes, and later events flow again', async () => {
    const jobId = (await insertPendingJob(database.db, { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-01', '2027-01-02']], scrapers: ['sim-kiwi'] })).id;
    const emitter = new Redis(redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    emitter.on('error', () => undefined);
    const log = new JobEventLog(emitter, new RedisKeys('rr:'), { maxEvents: 100, retentionSeconds: 600 });

    const client = new RecordingClient(`ws://${base}/ws/scraping/${jobId}`);
    await client.waitForEvent(() => true);
    for (let p = 1; p <= 3; p++) await log.append(jobId, progress(p));
    await client.waitForEvent((e) => e.seq === 3);

    await redisServer.stop();
    await expect.poll(async () => (await httpJson(`http://${base}/ws/stats`)).body.redis_connected, { timeout: 10_000 }).toBe(false);
    const down = await httpJson(`http://${base}/health`);
    expect(down.status).toBe(503);
    expect(down.body.failing).toContain('redis');

    await redisServer.restart();
    await expect.poll(async () => (await httpJson(`http://${base}/ws/stats`)).body.redis_connected, { timeout: 15_000 }).toBe(true);
    expect((await httpJson(`http://${base}/health`)).status).toBe(200);

    // Redis came back empty: the emitter continues above the seq it knows, under a new epoch.
    await expect.poll(async () => (await emitter.ping().catch(() => 'down')), { timeout: 10_000 }).toBe('PONG');
    for (let p = 4; p <= 6; p++) await log.append(jobId, progress(p), p - 1);
    await client.waitForEvent((e) => e.seq === 6);
    expect(client.seqs).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(new Set(client.events.slice(1).map((e) => e.metadata.epoch)).size).toBe(2);

    // A new client after the restart is served the new stream.
    const late = new RecordingClient(`ws://${base}/ws/scraping/${jobId}`);
    expect(await late.waitForEvent(() => true)).toMatchObject({ seq: 6 });
    client.close();
    late.close();
    emitter.disconnect();
  });
});
