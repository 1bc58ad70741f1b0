import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisKeys } from '../../shared/redis/keys.js';

/** Allowed, or refused with the seconds after which asking again may succeed. */
export type LimitDecision = { ok: true } | { ok: false; retryAfterSeconds: number; message: string };

const ALLOW: LimitDecision = { ok: true };
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
  private readonly upgrades: RateLimiterRedis;
  private readonly connections: RateLimiterRedis;
  private readonly replay: RateLimiterRedis;
  /** Connections this process counted per IP: given back on close, and all of them on shutdown. */
  private readonly held = new Map<string, number>();
  private lastFailureLog = 0;

  constructor(
    redis: Redis,
    keys: RedisKeys,
    private readonly config: Config['limits'],
    private readonly log: Logger,
  ) {
    this.jobs = new RateLimiterRedis({ storeClient: redis, keyPrefix: keys.limiter('jobs'), points: config.jobsPerMinute, duration: 60 });
    this.upgrades = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: keys.limiter('upgrades'),
      points: config.upgradesPerSecondPerIp,
      duration: 1,
      // An address over its limit is refused by this process without asking Redis again.
      inMemoryBlockOnConsumed: config.upgradesPerSecondPerIp + 1,
      inMemoryBlockDuration: 1,
    });
    // duration 0: a counter that never expires, moved up on open and down on close.
    this.connections = new RateLimiterRedis({ storeClient: redis, keyPrefix: keys.limiter('connections'), points: config.maxConnectionsPerIp, duration: 0 });
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

  /** A WebSocket upgrade from `ip`: counts against the per-second rate and the open connections. */
  async admitUpgrade(ip: string): Promise<LimitDecision> {
    const rate = await this.consume(this.upgrades, ip, 1, `at most ${this.config.upgradesPerSecondPerIp} WebSocket upgrades a second per address`);
    if (!rate.ok) return rate;
    const open = await this.consume(this.connections, ip, 1, `at most ${this.config.maxConnectionsPerIp} open WebSockets per address`, 5);
    if (open.ok) this.held.set(ip, (this.held.get(ip) ?? 0) + 1);
    return open;
  }

  /** An admitted upgrade whose socket closed (or never opened). */
  releaseConnection(ip: string): void {
    const n = this.held.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.held.delete(ip);
    else this.held.set(ip, n - 1);
    this.connections.reward(ip, 1).catch((error: unknown) => this.failed(error));
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

  /** On shutdown: gives back every connection this process counted. */
  async releaseAll(): Promise<void> {
    const held = [...this.held];
    this.held.clear();
    await Promise.allSettled(held.map(([ip, n]) => this.connections.reward(ip, n)));
  }

  private async consume(limiter: RateLimiterRedis, holder: string, points: number, message: string, retryAfterSeconds?: number): Promise<LimitDecision> {
    try {
      await limiter.consume(holder, points);
      return ALLOW;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        // A refused consume still counted: give a concurrency slot back at once.
        if (limiter === this.connections) void limiter.reward(holder, points).catch((error: unknown) => this.failed(error));
        return { ok: false, retryAfterSeconds: retryAfterSeconds ?? Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)), message };
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
