import type { Config } from '../../shared/config.js';
import { SCRAPER_NAMES, type ScraperName } from '../../shared/scraper-names.js';
import type { Scraper } from './scraper.js';
import { SimScraper } from './sim.scraper.js';

export type ScraperRegistry = ReadonlyMap<ScraperName, Scraper>;

/** Every known scraper, built once per worker from the configuration; jobs pick theirs by name. */
export function createScrapers(worker: Config['worker']): ScraperRegistry {
  const failing = new Set<ScraperName>(worker.simFailingScrapers);
  return new Map(
    SCRAPER_NAMES.map((name): [ScraperName, Scraper] => [
      name,
      new SimScraper(name, {
        latencyMs: worker.scraperLatencyMs,
        failureRate: worker.scraperFailureRate,
        alwaysFail: failing.has(name),
      }),
    ]),
  );
}
