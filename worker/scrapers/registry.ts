import type { RedisClient } from '../../shared/redis/cluster-connection.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis/keys.js';
import type { ScraperName } from '../../shared/scraper-names.js';
import type { SourcesConfig } from '../../shared/sources-config.js';
import { SourceHttp } from './http/source-http.js';
import { SourceRateLimit } from './http/source-rate-limit.js';
import { kiwiSource } from './kiwi.source.js';
import { ryanairSource } from './ryanair.source.js';
import type { Scraper } from './scraper.js';
import { simSource } from './sim.scraper.js';
import { wizzairSource } from './wizzair.source.js';

/** What a source factory may use: the sources' configuration and the shared HTTP hardening. */
export interface SourceDeps {
  config: SourcesConfig;
  /** The hardened HTTP client of one source, under its rate limit shared by all workers. */
  http(source: string, ratePerSecond: number): SourceHttp;
}

/** How to build one fare source; `create` returns null when the configuration leaves it off. */
export interface SourceFactory {
  readonly name: ScraperName;
  create(deps: SourceDeps): Scraper | null;
}

/**
 * Every fare source. Adding one: its file (a Scraper and its factory), its line here, its name in
 * shared/scraper-names.ts (the compiler checks the two agree) and, if it has settings, its
 * namespace in shared/sources-config.ts.
 */
export const SOURCES = {
  'sim-ryanair': simSource('sim-ryanair'),
  'sim-wizzair': simSource('sim-wizzair'),
  'sim-skyscanner': simSource('sim-skyscanner'),
  'sim-kiwi': simSource('sim-kiwi'),
  ryanair: ryanairSource,
  wizzair: wizzairSource,
  kiwi: kiwiSource,
} as const satisfies Record<ScraperName, SourceFactory>;

export type ScraperRegistry = ReadonlyMap<string, Scraper>;

export interface CreateScrapersOptions {
  config: SourcesConfig;
  /** Holds the rate-limit counters every worker shares. */
  redis: RedisClient;
  keys: RedisKeys;
  log: Logger;
}

/** Every source this configuration enables, built once per worker; jobs pick theirs by name. */
export function createScrapers({ config, redis, keys, log }: CreateScrapersOptions): ScraperRegistry {
  const deps: SourceDeps = {
    config,
    http: (source, ratePerSecond) =>
      new SourceHttp(source, config.http, new SourceRateLimit(redis, keys.sourceRateLimitPrefix, source, ratePerSecond), log.child({ source })),
  };
  const scrapers = new Map<string, Scraper>();
  for (const [name, factory] of Object.entries(SOURCES)) {
    if (factory.name !== name) throw new Error(`source registered as "${name}" calls itself "${factory.name}"`);
    const scraper = factory.create(deps);
    if (scraper) scrapers.set(factory.name, scraper);
  }
  return scrapers;
}
