/**
 * The fare sources a job may name. The `sim-*` sources are simulated (deterministic fares per route
 * and date, configurable latency and failure rate: demos and tests); the others search the
 * airlines' and aggregators' public HTTP APIs. Every name has a factory in
 * worker/scrapers/registry.ts (the compiler checks that the two lists agree).
 */
export const SIM_SCRAPER_NAMES = ['sim-ryanair', 'sim-wizzair', 'sim-skyscanner', 'sim-kiwi'] as const;
export const REAL_SCRAPER_NAMES = ['ryanair', 'wizzair', 'kiwi'] as const;
export const SCRAPER_NAMES = [...SIM_SCRAPER_NAMES, ...REAL_SCRAPER_NAMES] as const;
export type ScraperName = (typeof SCRAPER_NAMES)[number];
export type SimScraperName = (typeof SIM_SCRAPER_NAMES)[number];
