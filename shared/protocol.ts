/**
 * WebSocket close codes, in one table. The range says what a client should do:
 * 1001 and 40xx: reconnect and resume from the last seq; 44xx: do not reconnect, the request
 * itself is wrong. Clients written for the seed only know 4404.
 */
export const CLOSE_CODES = {
  /** Normal end (the client closed). */
  NORMAL: 1000,
  /** The gateway is shutting down: reconnect (the load balancer sends you to another one). */
  GOING_AWAY: 1001,
  /** The client broke a rule of the connection (it sent messages faster than allowed). */
  POLICY_VIOLATION: 1008,
  /** Unexpected server error: reconnect with backoff. */
  INTERNAL_ERROR: 1011,
  /** The job's stream restarted (Redis lost it) or the gateway missed events: reconnect with last_seq, expect a resync snapshot. */
  RESYNC: 4000,
  /** The client read slower than its job produced and passed the backpressure limit: reconnect with last_seq. */
  SLOW_CONSUMER: 4001,
  /** A dependency (Redis) is unavailable: reconnect with backoff. */
  UNAVAILABLE: 4003,
  /** The request is malformed (for example last_seq ahead of the job): do not reconnect as is. */
  BAD_REQUEST: 4400,
  /** Origin or credentials refused. */
  FORBIDDEN: 4403,
  /** No such job (the seed's code). */
  NOT_FOUND: 4404,
} as const;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/** Whether a client should reconnect (and resume) after the server closed with this code. */
export function shouldReconnect(code: number): boolean {
  return !(code >= 4400 && code < 4500) && code !== CLOSE_CODES.NORMAL;
}

/** The keepalive of the seed protocol: text `ping` is answered with text `pong`. */
export const PING_TEXT = 'ping';
export const PONG_TEXT = 'pong';

/** Constants of the only job kind there is so far (the defaults of the scraping_jobs columns). */
export const FLIGHT_JOB = { jobType: 'flights', source: 'orchestrator' } as const;
