import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { ScrapingEvent } from '../../shared/events.js';
import { createScrapeQueue, type ScrapeJobData } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { jobHistory } from './jobs.js';
import { startService, type ServiceProcess } from './processes.js';
import { createTestDatabase, createTestRedis, redisUrl, serviceEnv, testConfig, type TestDatabase, type TestRedis } from './services.js';

/** Worker processes started on demand, on a database and key prefix of their own, with their queue. */
export interface WorkerFixture {
  pg: TestDatabase;
  t: TestRedis;
  keys: RedisKeys;
  queue: Queue<ScrapeJobData>;
  env: Record<string, string>;
  /** Starts a worker process (ready to take jobs). */
  start(name: string): Promise<ServiceProcess>;
  eventsOf(jobId: number): Promise<ScrapingEvent[]>;
  /** SIGKILLs every worker still running (between tests). */
  killAll(): Promise<void>;
  close(): Promise<void>;
}

export async function startWorkerFixture(extraEnv: Record<string, string>): Promise<WorkerFixture> {
  const [pg, t] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const keys = new RedisKeys(t.keyPrefix);
  const env = serviceEnv({ databaseUrl: pg.url, keyPrefix: t.keyPrefix }, extraEnv);
  const queueRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const queue = createScrapeQueue(testConfig(env), queueRedis);
  const workers: ServiceProcess[] = [];
  const killAll = async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
  };
  return {
    pg,
    t,
    keys,
    queue,
    env,
    async start(name) {
      const worker = await startService('worker', env, { name });
      workers.push(worker);
      return worker;
    },
    eventsOf: (jobId) => jobHistory(t.redis, keys, jobId),
    killAll,
    async close() {
      await killAll();
      await queue.close();
      queueRedis.disconnect();
      await Promise.all([pg.drop(), t.cleanup()]);
    },
  };
}
