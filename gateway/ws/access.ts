/**
 * Who is asking, for every streaming endpoint (WS /ws/scraping/{id}, WS /ws, GET /sse/scraping/{id}):
 * one place that turns a request's credentials into a principal, and one that decides whether a
 * principal may watch a job. Access control plugs in here; without it everybody may watch every
 * job, as in the seed.
 */
export interface Principal {
  /** A credential the request carried (?token=, a Sec-WebSocket-Protocol token), unchecked here. */
  readonly token: string | null;
}

/** The credentials of an upgrade or SSE request, read while the request is still valid. */
export function principalOfRequest(credentials: { token: string | null }): Principal {
  return { token: credentials.token };
}

/**
 * Whether the principal may watch the job; `token` is the per-subscription token of a WS /ws
 * subscribe message (a connection may carry jobs of several owners).
 */
export function mayWatch(_principal: Principal, _jobId: number, _token?: string): boolean {
  return true;
}
