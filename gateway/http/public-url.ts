import type { Config } from '../../shared/config.js';
import type { ClientIp } from '../auth/client-ip.js';
import { peerAddress } from '../auth/client-ip.js';
import type { HttpRequest, HttpResponse } from '../uws.js';

/** A Host value fit to be put in a URL: host name or address and an optional port, nothing else. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The base (scheme://host) of the URLs a response hands out (ws_url, status_url). PUBLIC_URL when
 * configured; else X-Forwarded-Host / -Proto, but only from a trusted proxy (anyone else could
 * point a victim's client at their own server); else the Host header. Read synchronously.
 */
export function publicBase(config: Config, clientIp: ClientIp, res: HttpResponse, req: HttpRequest): { http: string; ws: string } {
  const configured = config.auth.publicUrl;
  if (configured !== null) {
    const url = new URL(configured);
    const base = `${url.host}${url.pathname.replace(/\/+$/, '')}`;
    return url.protocol === 'https:' ? { http: `https://${base}`, ws: `wss://${base}` } : { http: `http://${base}`, ws: `ws://${base}` };
  }
  let host = req.getHeader('host');
  let secure = false;
  if (clientIp.peerIsTrusted(peerAddress(res))) {
    host = req.getHeader('x-forwarded-host').split(',')[0]!.trim() || host;
    secure = req.getHeader('x-forwarded-proto').split(',')[0]!.trim() === 'https';
  }
  if (!HOST.test(host)) host = `localhost:${config.gateway.port}`;
  return secure ? { http: `https://${host}`, ws: `wss://${host}` } : { http: `http://${host}`, ws: `ws://${host}` };
}
