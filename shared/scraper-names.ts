/**
 * The fare sources a job may name. Every one is simulated for now (deterministic fares per route
 * and date, configurable latency and failure rate); real airline sources join this list later.
 */
export const SCRAPER_NAMES = ['sim-ryanair', 'sim-wizzair', 'sim-skyscanner', 'sim-kiwi'] as const;
export type ScraperName = (typeof SCRAPER_NAMES)[number];
