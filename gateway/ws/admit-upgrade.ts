import type { ReadDecision } from '../auth/auth-hook.js';
import { budgetHolder } from '../auth/auth-hook.js';
import type { Credentials } from '../auth/credentials.js';
import type { GatewayContext } from '../context.js';
import { admitAddress, releaseAddress, type AddressCheck } from './address-admission.js';

/** What to do with an upgrade once credentials and limits have been looked at. */
export type Admission =
  | { kind: 'open'; replayHolder: string | null }
  /** Credentials for another job (or another owner's key): served as an unknown job. */
  | { kind: 'not-found' }
  | { kind: 'refuse'; status: number; code: string; message: string; retryAfterSeconds?: number };

/**
 * The async half of an upgrade, for what memory could not answer at once: the per-address limits
 * first (gateway/ws/address-admission.ts, shared with /ws and SSE, so a flood of anything is cut
 * off by the per-IP rate before it costs more), then the credentials (AuthHook), then the replay budget of a resume.
 * No database work happens here for a watch token.
 */
export async function admitUpgrade(
  ctx: GatewayContext,
  ip: string,
  credentials: Credentials,
  jobId: number,
  resuming: boolean,
  limitsNow: AddressCheck,
  /** The credentials' decision when the caller already asked for it (a token being verified). */
  asked: ReadDecision | Promise<ReadDecision> | null = null,
): Promise<Admission> {
  // The per-address limits of every transport (address-admission.ts): a slot is held from here on.
  const refused = await admitAddress(ctx, ip, limitsNow);
  if (refused) return { kind: 'refuse', ...refused };
  let decision: ReadDecision;
  try {
    decision = await (asked ?? ctx.auth.authorizeJobRead(credentials, jobId));
  } catch (error) {
    releaseAddress(ctx, ip);
    throw error;
  }
  if (!decision.ok) {
    if (decision.kind === 'not-found') return { kind: 'not-found' };
    releaseAddress(ctx, ip);
    return { kind: 'refuse', status: 401, code: 'UNAUTHORIZED', message: decision.message };
  }
  if (!resuming) return { kind: 'open', replayHolder: null };
  const holder = budgetHolder(decision.principal, ip);
  const replay = await ctx.limits.mayReplay(holder);
  if (!replay.ok) {
    releaseAddress(ctx, ip);
    return { kind: 'refuse', status: 429, code: 'RATE_LIMITED', message: replay.message, retryAfterSeconds: replay.retryAfterSeconds };
  }
  return { kind: 'open', replayHolder: holder };
}
