import { z } from 'zod';
import { SIM_SCRAPER_NAMES, type ScraperName } from './scraper-names.js';

/**
 * The fare sources' configuration: one namespace per source (its base URL, rate limit, key), the
 * simulated sources' knobs, and the HTTP hardening every real source shares. Part of the one
 * environment schema of shared/config.ts, kept in a file of its own because sources come and go.
 */

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const fraction = z.coerce.number().min(0).max(1);
const commaList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));
const baseUrl = (fallback: string) =>
  z
    .url({ protocol: /^https?$/ })
    .transform((url) => url.replace(/\/+$/, ''))
    .default(fallback);
/** Requests per second one source gets from all workers together. */
const ratePerSecond = (fallback: number) => int(1, 1000).default(fallback);

export const sourceEnv = {
  // Simulated sources only.
  SCRAPER_LATENCY_MS: int(0, 600_000).default(400),
  SCRAPER_FAILURE_RATE: fraction.default(0),
  /**
   * Simulated scrapers that fail every search, e.g. "sim-kiwi,sim-wizzair": lets tests and demos
   * show a failing fare source deterministically. Empty (the default) forces no failure.
   */
  SIM_FAILING_SCRAPERS: commaList.pipe(z.array(z.enum(SIM_SCRAPER_NAMES))).default([]),

  // Every real source: one request's limit, retries and their backoff.
  SOURCE_TIMEOUT_MS: int(1, 600_000).default(15_000),
  SOURCE_RETRIES: int(0, 10).default(3),
  SOURCE_BACKOFF_MS: int(0, 600_000).default(500),
  SOURCE_BACKOFF_MAX_MS: int(0, 600_000).default(10_000),
  /** A Retry-After longer than this is not waited for: the search fails as rate_limited instead. */
  SOURCE_MAX_RETRY_AFTER_MS: int(0, 3_600_000).default(30_000),

  RYANAIR_BASE_URL: baseUrl('https://services-api.ryanair.com'),
  RYANAIR_RATE_LIMIT: ratePerSecond(2),
  WIZZAIR_BASE_URL: baseUrl('https://be.wizzair.com'),
  /** The version segment of WizzAir's API paths; it changes with WizzAir's releases (see README). */
  WIZZAIR_API_VERSION: z.string().regex(/^\d+(\.\d+)*$/, 'a version like 27.7.0').default('27.7.0'),
  WIZZAIR_RATE_LIMIT: ratePerSecond(1),
  KIWI_BASE_URL: baseUrl('https://api.tequila.kiwi.com'),
  /** Kiwi's Tequila API key; without one the kiwi source is off. */
  KIWI_API_KEY: z.string().min(8, 'at least 8 characters').optional(),
  KIWI_RATE_LIMIT: ratePerSecond(2),
  KIWI_MAX_STOPOVERS: int(0, 5).default(1),
};

type SourceEnv = z.infer<z.ZodObject<typeof sourceEnv>>;

export function toSourcesConfig(env: SourceEnv) {
  const http = {
    timeoutMs: env.SOURCE_TIMEOUT_MS,
    retries: env.SOURCE_RETRIES,
    backoffMs: env.SOURCE_BACKOFF_MS,
    backoffMaxMs: env.SOURCE_BACKOFF_MAX_MS,
    maxRetryAfterMs: env.SOURCE_MAX_RETRY_AFTER_MS,
  };
  return {
    sim: {
      latencyMs: env.SCRAPER_LATENCY_MS,
      failureRate: env.SCRAPER_FAILURE_RATE,
      failing: env.SIM_FAILING_SCRAPERS,
    },
    http,
    ryanair: { baseUrl: env.RYANAIR_BASE_URL, ratePerSecond: env.RYANAIR_RATE_LIMIT },
    wizzair: { baseUrl: env.WIZZAIR_BASE_URL, apiVersion: env.WIZZAIR_API_VERSION, ratePerSecond: env.WIZZAIR_RATE_LIMIT },
    kiwi: { baseUrl: env.KIWI_BASE_URL, apiKey: env.KIWI_API_KEY ?? null, ratePerSecond: env.KIWI_RATE_LIMIT, maxStopovers: env.KIWI_MAX_STOPOVERS },
  };
}
export type SourcesConfig = ReturnType<typeof toSourcesConfig>;
export type SourceHttpConfig = SourcesConfig['http'];

/**
 * Why a source cannot be used with this configuration, or null when it can. The gateway refuses a
 * job naming such a source at POST /api/jobs, so no job is queued that could only fail.
 */
export function sourceUnavailable(name: ScraperName, sources: Pick<SourcesConfig, 'kiwi'>): string | null {
  if (name === 'kiwi' && !sources.kiwi.apiKey) return 'kiwi needs a Tequila API key: set KIWI_API_KEY on the gateway and the workers';
  return null;
}

/** SCRAPERS may only name sources this configuration enables. */
export function checkSourcesEnabled(env: { SCRAPERS: readonly ScraperName[]; KIWI_API_KEY?: string | undefined }, ctx: z.RefinementCtx): void {
  for (const [i, name] of env.SCRAPERS.entries()) {
    const why = sourceUnavailable(name, { kiwi: { apiKey: env.KIWI_API_KEY ?? null } } as Pick<SourcesConfig, 'kiwi'>);
    if (why) ctx.addIssue({ code: 'custom', path: ['SCRAPERS', i], message: why });
  }
}
