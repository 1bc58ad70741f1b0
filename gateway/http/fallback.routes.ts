import type { TemplatedApp } from '../uws.js';
import { CLIENT_SCRIPT_PATH } from './client-script.routes.js';
import { reply, sendError } from './responses.js';
import { STATIC_PATHS } from './static.routes.js';

/**
 * The paths the gateway serves and the methods each takes: a request that reaches the fallback
 * on one of them used the wrong method (405 with Allow), anything else is 404. A route added
 * elsewhere adds its line here.
 */
const KNOWN_PATHS: { path: RegExp; allow: string[] }[] = [
  { path: /^\/api\/jobs$/, allow: ['POST'] },
  { path: /^\/api\/jobs\/[^/]+\/flights$/, allow: ['GET'] },
  { path: /^\/api\/jobs\/[^/]+\/watch-tokens$/, allow: ['POST'] },
  { path: /^\/api\/jobs\/[^/]+\/cancel$/, allow: ['POST'] },
  { path: /^\/ws\/scraping\/[^/]+\/status$/, allow: ['GET'] },
  { path: /^\/ws\/scraping\/[^/]+$/, allow: ['GET'] },
  { path: /^\/ws\/stats$/, allow: ['GET'] },
  { path: /^\/ws$/, allow: ['GET'] },
  { path: /^\/sse\/scraping\/[^/]+$/, allow: ['GET'] },
  { path: /^\/health$/, allow: ['GET'] },
  { path: /^\/metrics$/, allow: ['GET'] },
  { path: new RegExp(`^${CLIENT_SCRIPT_PATH.replace(/\./g, '\\.')}$`), allow: ['GET'] },
  ...STATIC_PATHS.map((p) => ({ path: new RegExp(`^${p.replace(/\./g, '\\.')}$`), allow: ['GET'] })),
];

const WS_PATH = /^\/ws(\/scraping\/[^/]+)?$/;

/** Registered last: what no route took. */
export function registerFallbackRoute(app: TemplatedApp): void {
  app.any('/*', (res, req) => {
    const method = req.getMethod().toUpperCase();
    const url = req.getUrl();
    const known = KNOWN_PATHS.find((k) => k.path.test(url));
    if (!known) {
      sendError(reply(res), 404, 'NOT_FOUND', `no route for ${method} ${url}`);
      return;
    }
    if (!known.allow.includes(method)) {
      sendError(reply(res), 405, 'METHOD_NOT_ALLOWED', `${url} takes ${known.allow.join(', ')}, not ${method}`, {
        headers: { Allow: known.allow.join(', ') },
      });
      return;
    }
    if (WS_PATH.test(url)) {
      sendError(reply(res), 426, 'UPGRADE_REQUIRED', `${url} is a WebSocket endpoint: connect with a WebSocket client, e.g. npx wscat -c ws://HOST${url}`, {
        headers: { Upgrade: 'websocket' },
      });
      return;
    }
    sendError(reply(res), 404, 'NOT_FOUND', `no route for ${method} ${url}`);
  });
}
