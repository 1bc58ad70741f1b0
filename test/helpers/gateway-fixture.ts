import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { gatewayPort, startService, type ServiceProcess } from './processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from './services.js';

/** A gateway process on its own database and key prefix, with an emitter on the same stream. */
export interface GatewayFixture {
  database: TestDatabase;
  redis: TestRedis;
  keys: RedisKeys;
  gateway: ServiceProcess;
  /** host:port of the gateway. */
  host: string;
  /** The project's own emit path (the worker's), writing to the gateway's prefix. */
  eventLog(maxEvents?: number): JobEventLog;
  close(): Promise<void>;
}

export async function startGatewayFixture(extraEnv: Record<string, string> = {}): Promise<GatewayFixture> {
  const [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const keys = new RedisKeys(redis.keyPrefix);
  const gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: '0', ...extraEnv }));
  return {
    database,
    redis,
    keys,
    gateway,
    host: `127.0.0.1:${await gatewayPort(gateway)}`,
    eventLog: (maxEvents = 10_000) => new JobEventLog(redis.redis, keys, { maxEvents, retentionSeconds: 600 }),
    async close() {
      await gateway.stop();
      await Promise.all([database.drop(), redis.cleanup()]);
    },
  };
}

/** Deterministic pseudo-random numbers in [0, 1), so a failing run can be replayed with its seed. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}
