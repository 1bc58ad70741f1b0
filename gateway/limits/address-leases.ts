import type { RateLimiterRedis } from 'rate-limiter-flexible';
import { RateLimiterRes } from 'rate-limiter-flexible';

/** Points one gateway takes from Redis at a time: a twentieth of the limit (at least one). */
export function leaseSize(limit: number): number {
  return Math.max(1, Math.floor(limit / 20));
}

/** A refusal, or null for "allowed". */
export type Refusal = { retryAfterSeconds: number } | null;

/**
 * Upgrades per second per address, shared through Redis, but not one Redis call per upgrade: a
 * gateway consumes a lease of points for an address at once (a twentieth of the limit) and spends
 * it locally until the window ends. A lease left unspent makes the limit a little stricter; the
 * first lease of a window, which trySpend grants without Redis, a little looser (one lease per
 * gateway and window at most). With a limit under 40 every upgrade asks Redis and waits, exactly
 * as a plain limiter would.
 */
interface RateLease {
  left: number;
  until: number;
  /** A background fetch of the next lease is under way. */
  fetching: boolean;
}

export class UpgradeRate {
  private readonly local = new Map<string, RateLease>();
  private readonly pending = new Map<string, Promise<Refusal>>();
  private readonly size: number;

  constructor(private readonly limiter: RateLimiterRedis, limit: number) {
    this.size = leaseSize(limit);
  }

  /**
   * Spends a point without waiting for Redis: true, or false when Redis must be asked first.
   * With leases of several points every window starts with one lease of the gateway's own (a
   * twentieth of the limit) and the next is fetched from Redis in the background before it runs
   * out (a refusal takes back what is left). An address so gets at most one lease more per gateway
   * and window than the limit; one under it never waits, and one under a lease never costs Redis.
   */
  trySpend(ip: string, now = Date.now()): boolean {
    let lease = this.local.get(ip);
    if (this.size > 1) {
      if (!lease || lease.until <= now) {
        // Each window starts with one lease of this gateway's own, not asked of Redis: an address
        // that stays under it (nearly all of them) costs Redis nothing at all.
        lease = { left: this.size, until: now + 1000, fetching: false };
        this.local.set(ip, lease);
      } else if (lease.left <= this.size / 2 && !lease.fetching) {
        this.refill(ip, lease);
      }
    }
    if (!lease || lease.until <= now || lease.left <= 0) return false;
    lease.left -= 1;
    return true;
  }

  private refill(ip: string, lease: RateLease): void {
    lease.fetching = true;
    this.limiter.consume(ip, this.size).then(
      (res) => {
        lease.fetching = false;
        lease.until = Date.now() + Math.max(res.msBeforeNext, 50);
        lease.left += this.size;
      },
      (rejection: unknown) => {
        lease.fetching = false;
        // At the limit: nothing more on credit until the window ends (take() asks Redis then).
        if (rejection instanceof RateLimiterRes) lease.left = 0;
      },
    );
  }

  /**
   * Takes a new lease and spends one point of it, or says how long to wait. One request to Redis
   * per address at a time: a burst of upgrades waits for the lease the first one fetches.
   * Throws on a Redis failure.
   */
  async take(ip: string): Promise<Refusal> {
    return takeLeased(this.size, this.pending, ip, () => this.fetch(ip), () => this.trySpend(ip));
  }

  private async fetch(ip: string): Promise<Refusal> {
    for (const size of this.size > 1 ? [this.size, 1] : [1]) {
      try {
        const res = await this.limiter.consume(ip, size);
        // A point of one's own is spent by the caller at once; a lease joins what this gateway holds.
        if (this.size === 1) return null;
        const lease = this.local.get(ip);
        if (lease && lease.until > Date.now()) lease.left += size;
        // A lease fetched in the last moments of a window still serves the burst that asked for it.
        else this.local.set(ip, { left: size, until: Date.now() + Math.max(res.msBeforeNext, 50), fetching: false });
        return null;
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        if (size === 1) return { retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
        // A refused consume still counted its points: take them back, then try for one.
        await this.limiter.reward(ip, size);
      }
    }
    return { retryAfterSeconds: 1 };
  }

  /** Forgets leases whose window is over (called now and then: the map stays small). */
  sweep(now = Date.now()): void {
    for (const [ip, lease] of this.local) if (lease.until <= now) this.local.delete(ip);
  }
}

/**
 * Open connections per address, shared through Redis the same way: a gateway reserves slots in
 * leases, hands them out locally, takes closed ones back, and returns what it holds spare beyond
 * two leases (and everything on shutdown or when the address has gone quiet).
 */
interface Slots {
  held: number;
  spare: number;
  /** Slots handed out on credit that Redis then refused: given back to nobody when they close. */
  owed: number;
  fetching: boolean;
}

export class ConnectionSlots {
  private readonly local = new Map<string, Slots>();
  private readonly pending = new Map<string, Promise<Refusal>>();
  private readonly size: number;

  constructor(private readonly limiter: RateLimiterRedis, limit: number, private readonly onError: (error: unknown) => void) {
    this.size = leaseSize(limit);
  }

  /** Hands out a slot without waiting for Redis (the credit rule of UpgradeRate.trySpend). */
  trySpend(ip: string): boolean {
    let slots = this.local.get(ip);
    if (this.size > 1) {
      if (!slots) {
        slots = { held: 0, spare: this.size, owed: 0, fetching: false };
        this.local.set(ip, slots);
        this.refill(ip, slots, true);
      } else if (slots.spare <= this.size / 2 && !slots.fetching && slots.owed === 0) {
        this.refill(ip, slots, false);
      }
    }
    if (!slots || slots.spare <= 0) return false;
    slots.spare -= 1;
    slots.held += 1;
    return true;
  }

  private refill(ip: string, slots: Slots, onCredit: boolean): void {
    slots.fetching = true;
    this.limiter.consume(ip, this.size).then(
      () => {
        slots.fetching = false;
        if (!onCredit) slots.spare += this.size;
      },
      (rejection: unknown) => {
        slots.fetching = false;
        if (!(rejection instanceof RateLimiterRes)) {
          this.onError(rejection);
          return;
        }
        // Refused: the consume still counted, so give it back; what was lent on credit is owed.
        this.limiter.reward(ip, this.size).catch(this.onError);
        if (onCredit) {
          slots.owed += this.size - slots.spare;
          slots.spare = 0;
        }
      },
    );
  }

  async take(ip: string): Promise<Refusal> {
    return takeLeased(this.size, this.pending, ip, () => this.fetch(ip), () => this.trySpend(ip));
  }

  private async fetch(ip: string): Promise<Refusal> {
    for (const size of this.size > 1 ? [this.size, 1] : [1]) {
      try {
        await this.limiter.consume(ip, size);
        const slots = this.local.get(ip) ?? { held: 0, spare: 0, owed: 0, fetching: false };
        // A slot of one's own is held by the caller at once; a lease joins the spare ones.
        if (this.size === 1) slots.held += 1;
        else slots.spare += size;
        this.local.set(ip, slots);
        return null;
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        // A refused consume still counted its points: give them back at once.
        await this.limiter.reward(ip, size);
        if (size === 1) return { retryAfterSeconds: 5 };
      }
    }
    return { retryAfterSeconds: 5 };
  }

  release(ip: string): void {
    const slots = this.local.get(ip);
    if (!slots || slots.held <= 0) return;
    slots.held -= 1;
    if (slots.owed > 0) {
      slots.owed -= 1; // a slot Redis never granted: nothing to give back
      return;
    }
    slots.spare += 1;
    if (slots.spare > 2 * this.size) {
      const extra = slots.spare - this.size;
      slots.spare = this.size;
      this.limiter.reward(ip, extra).catch(this.onError);
    }
  }

  /** Gives back the spare slots of addresses without connections here. */
  sweep(): void {
    for (const [ip, slots] of this.local) {
      if (slots.held > 0 || slots.fetching) continue;
      this.local.delete(ip);
      if (slots.spare > 0) this.limiter.reward(ip, slots.spare).catch(this.onError);
    }
  }

  /** Gives back every slot this gateway holds (shutdown). */
  async releaseAll(): Promise<void> {
    const all = [...this.local];
    this.local.clear();
    await Promise.allSettled(all.map(([ip, s]) => this.limiter.reward(ip, s.held - s.owed + s.spare)));
  }
}

/**
 * Single flight per address: the first caller fetches a lease, the others wait for it and spend
 * from it; whoever finds it spent fetches again, until Redis refuses.
 */
async function takeLeased(size: number, pending: Map<string, Promise<Refusal>>, ip: string, fetch: () => Promise<Refusal>, spend: () => boolean): Promise<Refusal> {
  // A lease of one point is nobody else's: fetched for this caller alone, and already its own.
  if (size === 1) return fetch();
  let refusal: Refusal = null;
  // Each round either spends or fetches another lease from Redis, which refuses at the limit: the
  // loop ends well before its bound unless Redis keeps granting to others first.
  for (let attempt = 0; attempt < 64; attempt++) {
    let inflight = pending.get(ip);
    if (!inflight) {
      inflight = fetch().finally(() => pending.delete(ip));
      pending.set(ip, inflight);
    }
    refusal = await inflight;
    if (spend()) return null;
    if (refusal) return refusal;
  }
  return { retryAfterSeconds: 1 };
}
