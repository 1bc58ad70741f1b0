import { budgetHolder, type Principal } from '../auth/auth-hook.js';
import type { GatewayContext } from '../context.js';
import type { InitialServe } from './job-channels.js';

/**
 * The replay budget (REPLAY_BYTES_PER_SECOND, counted in gateway/limits/limits.ts) of a resume,
 * on every transport: WS /ws/scraping/{id}?last_seq=, a WS /ws subscribe with last_seq, and SSE
 * with Last-Event-ID. The holder is the API key behind the credentials (the key itself, or the
 * owner of a watch token's job), else the client's address; so one client has one budget however
 * it resumes. A resume is refused while its holder's budget is used up, and is charged for the
 * bytes it was served once they are known. A join without a resume point (a snapshot) is neither
 * checked nor charged.
 */
export type ReplayAdmission = { ok: true; holder: string } | { ok: false; retryAfterSeconds: number; message: string };

/** Whether the client behind `principal` (from `ip`) may resume now, and who pays for it. */
export async function admitReplay(ctx: GatewayContext, principal: Principal, ip: string): Promise<ReplayAdmission> {
  const holder = budgetHolder(principal, ip);
  const decision = await ctx.limits.mayReplay(holder);
  return decision.ok ? { ok: true, holder } : decision;
}

/** `serve`, charging `holder` for the bytes of what it served (history, or a resync snapshot). */
export function chargedServe(ctx: GatewayContext, holder: string, serve: () => Promise<InitialServe>): () => Promise<InitialServe> {
  return () =>
    serve().then((initial) => {
      let bytes = 0;
      for (const frame of initial.frames) bytes += frame.length;
      ctx.limits.chargeReplay(holder, bytes);
      return initial;
    });
}
