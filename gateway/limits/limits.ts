import type { RedisClient } from '../../shared/redis/cluster-connection.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis/keys.js';
import { ConnectionSlots, UpgradeRate } from './address-leases.js';

/** Allowed, or refused with the seconds after which asking again may succeed. */
export type LimitDecision = { ok: true } | { ok: false; retryAfterSeconds: number; message: string };

const ALLOW: LimitDecision = { ok: true };
/** Let through because Redis failed: no slot was counted, none is given back. */
const ALLOW_UNCOUNTED: LimitDecision = { ok: true };
/** The replay budget is averaged over this many seconds: one large catch-up may use a burst of it. */
const REPLAY_WINDOW_SECONDS = 10;

/**
 * Every abuse limit that must hold across gateways, on rate-limiter-flexible with the shared
 * Redis: jobs per minute per key, upgrades per second per IP, open connections per IP, replayed
 * bytes per client. A Redis failure lets the request through (and is logged): availability
 * first, and a gateway without Redis cannot serve streams anyway.
 */
export class Limits {
  private readonly jobs: RateLimiterRedis;
  private readonly replay: RateLimiterRedis;
  private readonly upgradeRate: UpgradeRate;
  private readonly slots: ConnectionSlots;
  private readonly sweeper: NodeJS.Timeout;
  private lastFailureLog = 0;

  constructor(
    redis: RedisClient,
    keys: RedisKeys,
    private readonly config: Config['limits'],
    private readonly log: Logger,
  ) {
    this.jobs = new RateLimiterRedis({ storeClient: redis, keyPrefix: keys.limiter('jobs'), points: config.jobsPerMinute, duration: 60 });
    const upgrades = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: keys.limiter('upgrades'),
      points: config.upgradesPerSecondPerIp,
      duration: 1,
      // An address over its limit is refused by this process without asking Redis again.
      inMemoryBlockOnConsumed: config.upgradesPerSecondPerIp + 1,
      inMemoryBlockDuration: 1,
    });
    // duration 0: a counter that never expires, moved up on open and down on close.
    const connections = new RateLimiterRedis({ storeClient: redis, keyPrefix: keys.limiter('connections'), points: config.maxConnectionsPerIp, duration: 0 });
    this.upgradeRate = new UpgradeRate(upgrades, config.upgradesPerSecondPerIp);
    this.slots = new ConnectionSlots(connections, config.maxConnectionsPerIp, (error) => this.failed(error));
    this.sweeper = setInterval(() => {
      this.upgradeRate.sweep();
      this.slots.sweep();
    }, 10_000).unref();
    this.replay = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: keys.limiter('replay'),
      points: config.replayBytesPerSecond * REPLAY_WINDOW_SECONDS,
      duration: REPLAY_WINDOW_SECONDS,
    });
  }

  /** One job enqueued by `holder`: `key:<id>`, or `ip:<address>` while auth is off. */
  consumeJob(holder: string): Promise<LimitDecision> {
    return this.consume(this.jobs, holder, 1, `at most ${this.config.jobsPerMinute} jobs a minute per API key`);
  }

  /**
   * A new stream (WebSocket upgrade, event-stream request) from `ip`, answered from this gateway's leases when it holds them (the
   * common case: no Redis call, no await on the upgrade path). `allowed`: go ahead; `rate-spent`:
   * the rate is fine but a connection slot must come from Redis; `ask`: call admitUpgrade.
   */
  admitUpgradeNow(ip: string): 'allowed' | 'rate-spent' | 'ask' {
    if (!this.upgradeRate.trySpend(ip)) return 'ask';
    return this.slots.trySpend(ip) ? 'allowed' : 'rate-spent';
  }

  /** The upgrade rate and a connection slot, from Redis where no local lease covers them. */
  async admitUpgrade(ip: string, rateSpent = false): Promise<LimitDecision> {
    try {
      if (!rateSpent) {
        const refused = await this.upgradeRate.take(ip);
        if (refused) return { ok: false, retryAfterSeconds: refused.retryAfterSeconds, message: `at most ${this.config.upgradesPerSecondPerIp} streams a second per address (WebSocket upgrades and event-stream requests)` };
      }
      if (this.slots.trySpend(ip)) return ALLOW;
      const full = await this.slots.take(ip);
      if (full) return { ok: false, retryAfterSeconds: full.retryAfterSeconds, message: `at most ${this.config.maxConnectionsPerIp} open streams per address (WebSockets and event streams)` };
      return ALLOW;
    } catch (error) {
      this.failed(error);
      return ALLOW_UNCOUNTED;
    }
  }

  /** An admitted upgrade whose socket closed (or never opened). */
  releaseConnection(ip: string): void {
    this.slots.release(ip);
  }

  /** Whether `holder` may start a replay now (it is charged for the bytes afterwards). */
  async mayReplay(holder: string): Promise<LimitDecision> {
    try {
      const res = await this.replay.get(holder);
      if (!res || res.consumedPoints < this.replay.points) return ALLOW;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)), message: `replay budget used up: at most ${this.config.replayBytesPerSecond} bytes a second of history per client` };
    } catch (error) {
      this.failed(error);
      return ALLOW;
    }
  }

  chargeReplay(holder: string, bytes: number): void {
    if (bytes <= 0) return;
    this.replay.penalty(holder, Math.ceil(bytes)).catch((error: unknown) => this.failed(error));
  }

  /** On shutdown: gives back every connection slot this process holds. */
  async releaseAll(): Promise<void> {
    clearInterval(this.sweeper);
    await this.slots.releaseAll();
  }

  private async consume(limiter: RateLimiterRedis, holder: string, points: number, message: string): Promise<LimitDecision> {
    try {
      await limiter.consume(holder, points);
      return ALLOW;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)), message };
      }
      this.failed(rejection);
      return ALLOW;
    }
  }

  private failed(error: unknown): void {
    if (Date.now() - this.lastFailureLog < 10_000) return;
    this.lastFailureLog = Date.now();
    this.log.warn({ err: error }, 'abuse limits unavailable (Redis): letting requests through');
  }
}
