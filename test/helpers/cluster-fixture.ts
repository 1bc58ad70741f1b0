import type { Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { createLogger } from '../../shared/logger.js';
import { createScrapeQueue, enqueueScrape, type ScrapeJobData } from '../../shared/queue.js';
import { createCluster } from '../../shared/redis/cluster-connection.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { params } from './jobs.js';
import { gatewayPort, startService, type ServiceProcess } from './processes.js';
import { RedisTestCluster } from './redis-cluster.js';
import { createTestDatabase, serviceEnv, testConfig, uniqueName, type TestDatabase } from './services.js';

/**
 * A 3 masters + 3 replicas cluster of the test file's own, a database, and the processes a test
 * asks for, all running with REDIS_CLUSTER_NODES; plus the test's own cluster client.
 */
export interface ClusterFixture {
  cluster: RedisTestCluster;
  database: TestDatabase;
  keys: RedisKeys;
  env: Record<string, string>;
  /** The test's cluster client (commands). */
  redis: Cluster;
  /** The emit path of the workers (SPUBLISH), on the test's client. */
  eventLog(maxEvents?: number): JobEventLog;
  queue: Queue<ScrapeJobData>;
  startGateway(name: string, extraEnv?: Record<string, string>): Promise<{ process: ServiceProcess; host: string }>;
  startWorker(name: string, extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  /** Inserts pending jobs until one's keys live on a shard `accept` takes; returns its id. */
  jobOnShard(accept: (master: number) => boolean | Promise<boolean>): Promise<number>;
  enqueue(jobId: number): Promise<void>;
  close(): Promise<void>;
}

export async function startClusterFixture(extraEnv: Record<string, string> = {}): Promise<ClusterFixture> {
  const [cluster, database] = await Promise.all([RedisTestCluster.start({ masters: 3, replicas: 1 }), createTestDatabase()]);
  const keyPrefix = `${uniqueName('c')}:`;
  const keys = new RedisKeys(keyPrefix);
  // REDIS_URL points nowhere: a process that still used the single Redis would fail.
  const env = serviceEnv({ databaseUrl: database.url, keyPrefix, redisUrl: 'redis://127.0.0.1:1' }, { REDIS_CLUSTER_NODES: cluster.seeds, ...extraEnv });
  const log = createLogger('test', 'silent');
  const redis = createCluster(cluster.seedList, log, 'test-commands');
  const queueRedis = createCluster(cluster.seedList, log, 'test-queue', { redisOptions: { maxRetriesPerRequest: null } });
  const queue = createScrapeQueue(testConfig(env), queueRedis);
  const processes: ServiceProcess[] = [];
  return {
    cluster,
    database,
    keys,
    env,
    redis,
    queue,
    eventLog: (maxEvents = 10_000) => new JobEventLog(redis, keys, { maxEvents, retentionSeconds: 600 }, 'SPUBLISH'),
    async startGateway(name, more = {}) {
      const gateway = await startService('gateway', { ...env, PORT: '0', GATEWAY_ID: name, ...more }, { name });
      processes.push(gateway);
      return { process: gateway, host: `127.0.0.1:${await gatewayPort(gateway)}` };
    },
    async startWorker(name, more = {}) {
      const worker = await startService('worker', { ...env, ...more }, { name });
      processes.push(worker);
      return worker;
    },
    async jobOnShard(accept) {
      for (let attempt = 0; attempt < 50; attempt++) {
        const { id } = await insertPendingJob(database.db, params());
        if (await accept((await cluster.shardOf(keys.jobState(id))).master)) return id;
      }
      throw new Error('no job id landed on the wanted shard');
    },
    enqueue: (jobId) => enqueueScrape(queue, jobId),
    async close() {
      await Promise.allSettled(processes.map((p) => p.stop()));
      await queue.close().catch(() => undefined);
      queueRedis.disconnect();
      redis.disconnect();
      await Promise.allSettled([database.drop(), cluster.stop()]);
    },
  };
}
