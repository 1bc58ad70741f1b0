import type { GatewayContext } from '../context.js';
import type { ReadDecision } from './auth-hook.js';
import type { Credentials } from './credentials.js';

/**
 * The access rule of every endpoint that reads one job (its stream, its status, its flights):
 * its watch token, or its owner's API key; anything else is told the job does not exist, or 401
 * without credentials. Copy the credentials out of the uWS request first (credentialsOf).
 */
export function authorizeJobRead(ctx: GatewayContext, credentials: Credentials, jobId: number): Promise<ReadDecision> {
  return Promise.resolve(ctx.auth.authorizeJobRead(credentials, jobId));
}
