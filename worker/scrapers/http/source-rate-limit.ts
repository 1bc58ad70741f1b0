import type { RedisClient } from '../../../shared/redis/cluster-connection.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { abortableDelay } from '../abortable-delay.js';

/**
 * One source's request budget, shared by every worker through Redis: at most `ratePerSecond`
 * requests in each one-second window, however many workers and jobs search the source at once.
 * rate-limiter-flexible keeps a counter per window (INCRBY + expiry in one Lua call); a request
 * over the budget waits until the window ends, plus a little jitter so that the waiting workers
 * do not all try again in the same millisecond.
 */
export class SourceRateLimit {
  private readonly limiter: RateLimiterRedis;

  constructor(
    redis: RedisClient,
    keyPrefix: string,
    private readonly source: string,
    readonly ratePerSecond: number,
    private readonly random: () => number = Math.random,
  ) {
    this.limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix, points: ratePerSecond, duration: 1 });
  }

  /** Resolves when one more request may go out; rejects with the signal's reason when aborted. */
  async acquire(signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      try {
        await this.limiter.consume(this.source, 1);
        return;
      } catch (rejection) {
        // A RateLimiterRes is "over budget"; anything else is Redis failing, which the caller sees.
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        await abortableDelay(rejection.msBeforeNext + Math.floor(this.random() * 25), signal);
      }
    }
  }
}
