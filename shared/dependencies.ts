import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from './logger.js';

/** One service the process cannot start without, and how to tell whether it answers. */
export interface Dependency {
  name: 'redis' | 'postgres';
  /** The URL as configured, shown with its password masked. */
  url: string;
  /** The variable that sets it, for the advice. */
  variable: string;
  /** Resolves when the dependency answers; rejects with why not. */
  probe(): Promise<void>;
  /** What to check, given the failure, in a few words. */
  advice(error: unknown): string;
}

const PROBE_TIMEOUT_MS = 2000;
const RETRY_EVERY_MS = 1000;

/** Exit status of a service whose dependency never answered (EX_UNAVAILABLE). */
export const EXIT_DEPENDENCY_UNAVAILABLE = 69;

export class DependencyUnavailableError extends Error {
  readonly code = 'DEPENDENCY_UNAVAILABLE';
  constructor(
    readonly missing: string[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * Waits until every dependency answers, trying each about once a second and logging one line per
 * failed attempt (what, where, why, what to check) — no error objects, no stacks. Gives up after
 * `timeoutSeconds` with DependencyUnavailableError naming what is still missing, so the process
 * can exit non-zero instead of waiting forever (compose restarts it; a person reads why).
 */
export async function waitForDependencies(deps: Dependency[], timeoutSeconds: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const started = Date.now();
  let pending = deps;
  for (let attempt = 1; ; attempt++) {
    const results = await Promise.all(pending.map(async (dep) => ({ dep, error: await probeOnce(dep) })));
    const failed = results.filter((r) => r.error !== null);
    if (failed.length === 0) return;
    const waited = Math.round((Date.now() - started) / 1000);
    const lines = failed.map(({ dep, error }) => `${dep.name} at ${maskUrl(dep.url)}: ${reason(error)} — ${dep.advice(error)}`);
    if (Date.now() >= deadline) {
      throw new DependencyUnavailableError(
        failed.map((f) => f.dep.name),
        `gave up after ${waited} s (STARTUP_TIMEOUT_SECONDS=${timeoutSeconds}): ${lines.join('; ')}`,
      );
    }
    for (const [i, { dep, error }] of failed.entries()) {
      log.warn({ dependency: dep.name, attempt, waitedSeconds: waited, reason: reason(error) }, `waiting for ${lines[i]} (attempt ${attempt})`);
    }
    pending = failed.map((f) => f.dep);
    await sleep(Math.max(0, Math.min(RETRY_EVERY_MS, deadline - Date.now())));
  }
}

async function probeOnce(dep: Dependency): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      dep.probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return null;
  } catch (error) {
    return error ?? new Error('unknown error');
  } finally {
    clearTimeout(timer);
  }
}

/** The one-line cause of a connection failure. */
function reason(error: unknown): string {
  const e = error as { code?: string; message?: string; errors?: { message?: string }[] };
  if (e?.code === 'ECONNREFUSED') return 'connection refused';
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') return 'host not found';
  // A refused connect to "localhost" tries ::1 and 127.0.0.1 and reports both in an AggregateError.
  const message = e?.message || e?.errors?.map((x) => x.message).join(', ') || String(error);
  return message.split('\n')[0]!;
}

/** redis://user:secret@host → redis://user:***@host */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

export function redisDependency(url: string): Dependency {
  return {
    name: 'redis',
    url,
    variable: 'REDIS_URL',
    async probe() {
      // No retries and no offline queue: this client answers once, then goes.
      const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: PROBE_TIMEOUT_MS });
      // The connect itself rejects with "Connection is closed."; the socket's error says why.
      let cause: unknown = null;
      client.on('error', (error) => (cause ??= error));
      try {
        await client.connect();
        await client.ping();
      } catch (error) {
        throw cause ?? error;
      } finally {
        client.disconnect();
      }
    },
    advice: (error) => {
      const code = (error as { code?: string })?.code;
      if (code === 'ECONNREFUSED') return 'is Redis running? start it (redis-server, or docker compose up -d redis) or set REDIS_URL';
      if (/NOAUTH|WRONGPASS/.test(String((error as Error)?.message))) return 'check the password in REDIS_URL';
      return 'check REDIS_URL and that Redis is reachable';
    },
  };
}

export function postgresDependency(url: string): Dependency {
  return {
    name: 'postgres',
    url,
    variable: 'DATABASE_URL',
    async probe() {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('select 1');
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    advice: (error) => {
      const code = (error as { code?: string })?.code;
      const u = safeUrl(url);
      const database = u ? decodeURIComponent(u.pathname.slice(1)) || 'postgres' : 'the database';
      if (code === '3D000') return `create it (createdb -h ${u?.hostname ?? 'HOST'} -U ${u?.username || 'postgres'} ${database}) or point DATABASE_URL at one that exists`;
      if (code === '28P01' || code === '28000') return 'check the user and password in DATABASE_URL';
      if (code === 'ECONNREFUSED') return 'is Postgres running? start it (sudo systemctl start postgresql, or docker compose up -d postgres) or set DATABASE_URL';
      return 'check DATABASE_URL and that Postgres is reachable';
    },
  };
}

function safeUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}
