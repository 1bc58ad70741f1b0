import type { GatewayContext } from '../context.js';
import type { TemplatedApp } from '../uws.js';
import { adminCheck } from '../auth/admin.js';
import { immediate, reply, sendBody, sendError, sendUnavailable } from './responses.js';

/**
 * GET /metrics: Prometheus text exposition of this gateway's metrics (gateway/metrics.ts). Like
 * /ws/stats, it requires `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set (give
 * Prometheus the token with `authorization: { credentials: … }` in its scrape config).
 */
export function registerMetricsRoute(app: TemplatedApp, ctx: GatewayContext): void {
  const isAdmin = adminCheck(ctx.config.auth.adminToken);
  app.get('/metrics', (res, req) => {
    if (!isAdmin(req.getHeader('authorization'))) {
      sendError(immediate(res), 401, 'UNAUTHORIZED', 'send the operator token: Authorization: Bearer <ADMIN_TOKEN>');
      return;
    }
    const r = reply(res);
    ctx.metrics
      .text()
      .then((text) => sendBody(r, 200, ctx.metrics.contentType, text))
      .catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });
}
