import type { GatewayContext } from '../context.js';
import { sendError, type Reply } from '../http/responses.js';
import type { Limits } from '../limits/limits.js';

/**
 * The per-address limits every stream transport applies before it holds anything: the rate of
 * new streams (RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP) and a connection slot (MAX_CONNECTIONS_PER_IP).
 * WS /ws/scraping/{id}, WS /ws and GET /sse/scraping/{id} all take them here, from the same
 * counters: an address has one budget whatever transport it uses. A stream admitted here holds one
 * slot until it ends — a /ws connection one however many jobs it carries.
 */

/** A refusal by the per-address limits: 429 RATE_LIMITED with Retry-After, on every transport. */
export interface AddressRefusal {
  status: 429;
  code: 'RATE_LIMITED';
  message: string;
  retryAfterSeconds: number;
}

/** What this gateway's leases answer at once: 'allowed' (a slot is held), or what Redis must still be asked. */
export type AddressCheck = ReturnType<Limits['admitUpgradeNow']>;

/** The synchronous half: answered from this gateway's leases, no Redis call (the common case). */
export function checkAddressNow(ctx: GatewayContext, ip: string): AddressCheck {
  return ctx.limits.admitUpgradeNow(ip);
}

/**
 * The asynchronous half, for what the leases could not answer: null when admitted (a slot is now
 * held: give it back with releaseAddress), else the refusal (nothing is held).
 */
export async function admitAddress(ctx: GatewayContext, ip: string, now: AddressCheck): Promise<AddressRefusal | null> {
  if (now === 'allowed') return null;
  const decision = await ctx.limits.admitUpgrade(ip, now === 'rate-spent');
  if (decision.ok) return null;
  return { status: 429, code: 'RATE_LIMITED', message: decision.message, retryAfterSeconds: decision.retryAfterSeconds };
}

/** Both halves: null at once when the leases cover it, else a promise of the answer. */
export function admitAddressSoon(ctx: GatewayContext, ip: string): null | Promise<AddressRefusal | null> {
  const now = checkAddressNow(ctx, ip);
  return now === 'allowed' ? null : admitAddress(ctx, ip, now);
}

/** Gives back the slot of a stream that ended (or was admitted but never opened). */
export function releaseAddress(ctx: GatewayContext, ip: string): void {
  ctx.limits.releaseConnection(ip);
}

/** The refusal as the HTTP answer every transport gives it: 429 RATE_LIMITED, Retry-After. */
export function sendAddressRefusal(r: Reply, refusal: AddressRefusal): void {
  sendError(r, 429, 'RATE_LIMITED', refusal.message, { headers: retryAfterHeader(refusal) });
}

export function retryAfterHeader(refusal: { retryAfterSeconds: number }): Record<string, string> {
  return { 'Retry-After': String(refusal.retryAfterSeconds) };
}

/**
 * One admitted stream's slot, given back exactly once however the stream ends (client close,
 * server close, backpressure cut, refusal after admission, drain): the transports' several end
 * paths may each call release.
 */
export class AddressSlot {
  private held = true;

  constructor(
    private readonly ctx: GatewayContext,
    readonly ip: string,
  ) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    releaseAddress(this.ctx, this.ip);
  }
}
