import { ScraperError } from '../../../shared/errors.js';

/**
 * What went wrong with a fare source, for machines: scraper_failed events carry it as
 * `metadata.failure`.
 * - rate_limited: the source kept answering 429 (or asked to wait longer than allowed);
 * - blocked: it refused us (401/403: a key missing or revoked, a bot wall);
 * - timeout: no (complete) answer within SOURCE_TIMEOUT_MS, every attempt;
 * - unavailable: 5xx or network errors on every attempt;
 * - bad_response: an answer that is not JSON, or not of the documented shape (the message names
 *   the field), or a 4xx refusing the request itself.
 */
export const SOURCE_FAILURES = ['rate_limited', 'blocked', 'timeout', 'unavailable', 'bad_response'] as const;
export type SourceFailure = (typeof SOURCE_FAILURES)[number];

/** A search that failed for good (after the retries its kind of failure deserves). */
export class SourceError extends ScraperError {
  constructor(
    scraper: string,
    readonly failure: SourceFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(scraper, message, options);
  }
}

/** The failure kind of any error a scraper threw: a source's own, or `unavailable` for the rest (a simulated outage). */
export function failureOf(error: unknown): SourceFailure {
  return error instanceof SourceError ? error.failure : 'unavailable';
}
