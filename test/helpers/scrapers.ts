import { Redis } from 'ioredis';
import { createLogger } from '../../shared/logger.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { createScrapers, type ScraperRegistry } from '../../worker/scrapers/registry.js';
import { testConfig } from './services.js';

/**
 * The scrapers a worker with this environment builds, for in-process tests of simulated sources:
 * their Redis (the real sources' rate limits) is never connected, as simulated sources do not use it.
 */
export function configuredScrapers(env: Record<string, string>): ScraperRegistry {
  const config = testConfig(env);
  const unused = new Redis({ lazyConnect: true });
  return createScrapers({ config: config.sources, redis: unused, keys: new RedisKeys('unused:'), log: createLogger('test', 'silent') });
}
