import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * A Redis client that reconnects forever with capped backoff and logs its transitions.
 * BullMQ needs `maxRetriesPerRequest: null` on the connections it blocks on.
 */
export function createRedis(url: string, log: Logger, name: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    enableAutoPipelining: false,
    ...options,
  });
  let wasReady = false;
  redis.on('ready', () => {
    if (wasReady) log.info({ redis: name }, 'redis reconnected');
    wasReady = true;
  });
  redis.on('error', (err) => log.warn({ redis: name, err: err.message }, 'redis connection error'));
  redis.on('end', () => log.debug({ redis: name }, 'redis connection closed'));
  return redis;
}
