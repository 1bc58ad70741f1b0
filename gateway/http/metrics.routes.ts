import type { GatewayContext } from '../context.js';
import type { TemplatedApp } from '../uws.js';
import { reply, sendBody, sendUnavailable } from './responses.js';

/** GET /metrics: Prometheus text exposition of this gateway's metrics (gateway/metrics.ts). */
export function registerMetricsRoute(app: TemplatedApp, ctx: GatewayContext): void {
  app.get('/metrics', (res) => {
    const r = reply(res);
    ctx.metrics
      .text()
      .then((text) => sendBody(r, 200, ctx.metrics.contentType, text))
      .catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });
}
