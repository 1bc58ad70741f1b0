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
  /** GET /ws/stats of the gateway. */
  stats(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface GatewayFixtureOptions {
  /** The Redis the gateway connects to (e.g. a proxy in front of the shared one); the fixture's own client stays direct. */
  redisUrl?: string;
}

/**
 * Starts a gateway on port 0 (it reports the port it got) with a fresh database and key prefix.
 * The one way tests start a gateway of their own.
 */
export async function startGatewayFixture(extraEnv: Record<string, string> = {}, options: GatewayFixtureOptions = {}): Promise<GatewayFixture> {
  const [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  const keys = new RedisKeys(redis.keyPrefix);
  let gateway: ServiceProcess;
  try {
    const env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix, ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}) }, { PORT: '0', ...extraEnv });
    gateway = await startService('gateway', env);
  } catch (error) {
    await Promise.all([database.drop(), redis.cleanup()]);
    throw error;
  }
  const host = `127.0.0.1:${await gatewayPort(gateway)}`;
  return {
    database,
    redis,
    keys,
    gateway,
    host,
    eventLog: (maxEvents = 10_000) => new JobEventLog(redis.redis, keys, { maxEvents, retentionSeconds: 600 }),
    stats: async () => (await (await fetch(`http://${host}/ws/stats`)).json()) as Record<string, unknown>,
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
