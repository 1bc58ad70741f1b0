import type { GatewayContext } from './context.js';
import { registerCancelJobRoute } from './http/cancel-job.routes.js';
import { registerClientScriptRoute } from './http/client-script.routes.js';
import { registerFlightRoutes } from './http/flights.routes.js';
import { registerHealthRoutes } from './http/health.routes.js';
import { registerJobRoutes } from './http/jobs.routes.js';
import { registerFallbackRoute } from './http/fallback.routes.js';
import { registerMetricsRoute } from './http/metrics.routes.js';
import { registerStaticRoutes } from './http/static.routes.js';
import { uWS, type TemplatedApp } from './uws.js';
import { registerMuxSocket } from './ws/mux-socket.js';
import { registerScrapingSocket } from './ws/scraping-socket.js';
import { registerSseRoute } from './ws/sse-route.js';

/** Wires the uWS app: routes, sockets, and a JSON 404/405 for everything else. Nothing more. */
export function createApp(ctx: GatewayContext): TemplatedApp {
  const app = uWS.App();
  registerScrapingSocket(app, ctx);
  registerMuxSocket(app, ctx);
  registerSseRoute(app, ctx);
  registerJobRoutes(app, ctx);
  registerCancelJobRoute(app, ctx);
  registerFlightRoutes(app, ctx);
  registerHealthRoutes(app, ctx);
  registerMetricsRoute(app, ctx);
  registerStaticRoutes(app);
  registerClientScriptRoute(app, ctx.log);
  registerFallbackRoute(app);
  return app;
}
