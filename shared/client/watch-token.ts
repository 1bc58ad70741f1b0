/**
 * Watch tokens as the SDK sees them: a string, or a function that fetches one (e.g. POST
 * /api/jobs/{id}/watch-tokens with the owner's key) — called again when the gateway refuses the
 * token it has, so that a watch outlives any one token (WATCH_TOKEN_TTL_SECONDS).
 * No Node APIs: bundled for the dashboard.
 */

/** Returns a token, or null when there is none to be had (access control off, no way to mint one). */
export type TokenSource = () => string | null | Promise<string | null>;

/**
 * Thrown by a token function that knows no fresh token can be had (the key is gone, the link was
 * all there was): the stream stops with TOKEN_EXPIRED instead of trying again.
 */
export class WatchTokenExpired extends Error {
  readonly code = 'TOKEN_EXPIRED';

  constructor(message = 'the watch token expired and no fresh one can be had') {
    super(message);
    this.name = 'WatchTokenExpired';
  }
}

export function isWatchTokenExpired(error: unknown): error is { code: 'TOKEN_EXPIRED'; message: string } {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'TOKEN_EXPIRED';
}

/**
 * When the token stops being accepted (ms since the epoch), from its `exp` claim; null for a
 * token that is not a JWT with one. Read without verifying: only the gateway can verify it, the
 * client just avoids knocking with a token that has certainly run out.
 */
export function tokenExpiresAt(token: string): number | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** Whether the token's own `exp` has passed (false when it has none the client can read). */
export function tokenExpired(token: string, now = Date.now()): boolean {
  const at = tokenExpiresAt(token);
  return at !== null && at <= now;
}
