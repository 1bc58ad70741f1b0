import { CLOSE_CODES } from '../../shared/protocol.js';
import type { ReadDecision } from '../auth/auth-hook.js';
import type { Credentials } from '../auth/credentials.js';
import type { GatewayContext } from '../context.js';

/** No credentials at all (access control off, or none offered). */
export const NO_CREDENTIALS: Credentials = { bearer: null, token: null };

/**
 * Whether these credentials may watch the job, for WS /ws subscriptions and SSE: the same rule as
 * the upgrade of WS /ws/scraping/{id} (AuthHook.authorizeJobRead), answered from memory when it
 * can be. A subscribe message's own `token` takes the place of the connection's credentials: one
 * connection may carry jobs of several owners.
 */
export function authorizeWatch(ctx: GatewayContext, connection: Credentials, jobId: number, token?: string): ReadDecision | Promise<ReadDecision> {
  return ctx.auth.authorizeJobRead(token ? { bearer: null, token } : connection, jobId);
}

/** A refusal as the close code the legacy path would use, and its reason. */
export function refusalOf(decision: Exclude<ReadDecision, { ok: true }>, jobId: number): { code: number; reason: string } {
  return decision.kind === 'not-found'
    ? { code: CLOSE_CODES.NOT_FOUND, reason: `Job ${jobId} not found` }
    : { code: CLOSE_CODES.FORBIDDEN, reason: decision.message };
}
