import type { GatewayContext } from '../context.js';

/**
 * ws_url and status_url of a job, with a fresh watch token in them (`?token=…`) when tokens are
 * on, so that a browser or the seed's clients can use them as they are.
 */
export async function watchUrls(ctx: GatewayContext, base: { http: string; ws: string }, jobId: number, ownerKeyId: number) {
  const tokens = ctx.auth.tokens;
  if (!tokens) {
    return { ws_url: `${base.ws}/ws/scraping/${jobId}`, status_url: `${base.http}/ws/scraping/${jobId}/status` };
  }
  const { token, expiresAt } = await tokens.sign(jobId, ownerKeyId);
  return {
    ws_url: `${base.ws}/ws/scraping/${jobId}?token=${token}`,
    status_url: `${base.http}/ws/scraping/${jobId}/status?token=${token}`,
    watch_token: token,
    watch_token_expires_at: expiresAt.toISOString(),
  };
}
