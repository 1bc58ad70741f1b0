import { createHmac } from 'node:crypto';

/**
 * Access control in the bench: the gateway runs with auth on, as deployed, and every load client
 * presents a watch token for its job (`?token=…`). The token is an ordinary HS256 JWT, signed here
 * synchronously with node:crypto (the gateway verifies it with jose): a load client must not
 * wait for anything per connection.
 */
export const BENCH_WATCH_TOKEN_SECRET = 'bench-only-watch-token-secret-0123456789abcdef';

/** The gateway's environment for a run with (true) or without access control. */
export function benchAuthEnv(auth: boolean): Record<string, string> {
  if (!auth) return { AUTH_ENABLED: 'false' };
  return {
    AUTH_ENABLED: 'true',
    WATCH_TOKEN_SECRET: BENCH_WATCH_TOKEN_SECRET,
    // The load comes from a handful of loopback addresses: the per-address limits stay on (their
    // cost is part of what is measured) but far above what the scenarios open.
    RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: '10000000',
    MAX_CONNECTIONS_PER_IP: '10000000',
    RATE_LIMIT_JOBS_PER_MINUTE: '1000000',
    MAX_ACTIVE_JOBS_PER_KEY: '1000000',
    REPLAY_BYTES_PER_SECOND: '1073741824',
  };
}

const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const tokens = new Map<number, string>();

/** A token for `job` (owner 0: the bench's jobs have none), valid for a day; one per job, reused. */
export function benchWatchToken(job: number): string {
  let token = tokens.get(job);
  if (token === undefined) {
    const payload = Buffer.from(JSON.stringify({ job, own: 0, exp: Math.floor(Date.now() / 1000) + 86_400 })).toString('base64url');
    const signature = createHmac('sha256', BENCH_WATCH_TOKEN_SECRET).update(`${header}.${payload}`).digest('base64url');
    token = `${header}.${payload}.${signature}`;
    tokens.set(job, token);
  }
  return token;
}
