import type { HttpRequest } from '../uws.js';

/**
 * What a request presents, copied out of the uWS request at once (it is invalid after the
 * handler returns): an `Authorization: Bearer` value (an API key, or a watch token), and a watch
 * token from the `token` query parameter or from `Sec-WebSocket-Protocol`.
 */
export interface Credentials {
  bearer: string | null;
  token: string | null;
}

/** Subprotocol entries that carry a token look like `token.<jwt>` (browsers cannot set headers). */
export const TOKEN_PROTOCOL_PREFIX = 'token.';

export function credentialsOf(req: HttpRequest, protocolHeader = ''): Credentials {
  const authorization = req.getHeader('authorization');
  const bearer = /^Bearer [!-~]{1,1024}$/.test(authorization) ? authorization.slice(7) : authorization === '' ? null : '';
  let token: string | null = req.getQuery('token') ?? null;
  if (token === '' || token === undefined) token = null;
  if (token === null && protocolHeader !== '') token = tokenOfProtocols(protocolHeader);
  return { bearer, token };
}

/** The token among the offered subprotocols, or null. */
export function tokenOfProtocols(header: string): string | null {
  for (const entry of header.split(',')) {
    const p = entry.trim();
    if (p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p.slice(TOKEN_PROTOCOL_PREFIX.length);
  }
  return null;
}

/**
 * The subprotocol the server agrees to: a browser fails the connection unless the answer is one
 * it offered. The first entry that is not a token (e.g. `scout.v1`), else the token entry itself.
 */
export function chosenProtocol(header: string): string {
  if (header === '') return '';
  const entries = header.split(',').map((e) => e.trim());
  return entries.find((e) => !e.startsWith(TOKEN_PROTOCOL_PREFIX)) ?? entries[0] ?? '';
}
