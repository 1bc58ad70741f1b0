import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createScrapeQueue, enqueueScrape, type ScrapeJobData } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { flightCounts, jobHistory, oneToN, params, waitForFinishedJob } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, testConfig, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { Watcher } from '../helpers/watchers.js';

/** A worker dies mid-job while people watch it: another worker finishes it, and they see it all. */
describe('a worker killed under watchers', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let env: Record<string, string>;
  let gateway: ServiceProcess;
  let queue: Queue<ScrapeJobData>;
  const workers: ServiceProcess[] = [];

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    // A dead worker's lock expires after 2 s and the stalled check runs every second.
    env = serviceEnv(
      { databaseUrl: database.url, keyPrefix: redis.keyPrefix },
      { SCRAPER_LATENCY_MS: '200', ORCHESTRATOR_CONCURRENCY: '2', JOB_LOCK_DURATION_MS: '2000', JOB_STALLED_INTERVAL_MS: '1000' },
    );
    gateway = await startService('gateway', { ...env, PORT: '0' });
    queue = createScrapeQueue(testConfig(env), redis.redis.duplicate());
  });
  afterAll(async () => {
    await queue?.close();
    await Promise.all([gateway?.stop(), ...workers.map((w) => w.stop('SIGKILL'))]);
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('another worker finishes the job; watchers see job_completed and a seq without gaps or repeats', async () => {
    const base = `http://127.0.0.1:${await gatewayPort(gateway)}`;
    const jobId = (await insertPendingJob(database.db, params({ origins: ['MUC', 'VIE'] }))).id;
    const watchers = Array.from({ length: 50 }, () => new Watcher(base, jobId));
    await expect.poll(() => watchers.every((w) => w.snapshots.length === 1), { timeout: 10_000 }).toBe(true);

    const first = await startService('worker', env, { name: 'worker-a' });
    workers.push(first);
    await enqueueScrape(queue, jobId);
    await expect.poll(() => watchers[0]!.seqs.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(6);
    await first.stop('SIGKILL');
    workers.push(await startService('worker', env, { name: 'worker-b' }));

    const ends = await Promise.all(watchers.map((w) => w.stream.finished()));
    const finished = await waitForFinishedJob(database.db, jobId, 30_000);
    expect(finished.status).toBe('completed');
    const history = await jobHistory(redis.redis, new RedisKeys(redis.keyPrefix), jobId);
    const n = history.length;
    expect(history.map((e) => e.seq)).toEqual(oneToN(n));
    expect(history.some((e) => e.metadata.resumed === true)).toBe(true);
    for (const [i, w] of watchers.entries()) {
      expect(ends[i]?.event_type, `watcher ${i}`).toBe('job_completed');
      expect(w.seqs).toEqual(oneToN(n));
      expect(w.errors).toEqual([]);
    }
    const flights = await flightCounts(database.db, jobId);
    expect(flights).toEqual({ rows: finished.items_scraped, offers: finished.items_scraped });
  });
});
