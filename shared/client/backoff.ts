/** How long to wait before reconnect attempt n (0-based), in milliseconds. */
export interface BackoffOptions {
  /** The ceiling of the first attempt's delay. */
  baseMs: number;
  /** No delay ever exceeds this, however many attempts failed. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 15_000 };

/**
 * Exponential backoff with full jitter: a uniform draw from [0, min(max, base·2ⁿ)). When a gateway
 * goes away, every one of its clients reconnects at once; the spread keeps them from arriving
 * at the survivors in one burst, and full jitter spreads them wider than "delay ± a little".
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // 2^30 already exceeds any sane ceiling; capping the exponent keeps the arithmetic finite.
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
