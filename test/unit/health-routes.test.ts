import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../gateway/context.js';
import { registerHealthRoutes } from '../../gateway/http/health.routes.js';
import type { TemplatedApp } from '../../gateway/uws.js';
import type { Database } from '../../shared/db/database.js';

/*
 * GET /health as the load balancer sees it, with the gateway's state set directly: a SIGTERM sets
 * `draining` before anything else, and from then on the health check must fail. (In a running
 * gateway that window lasts only as long as its clients take to leave, too short to probe
 * reliably from outside; the upgrade refusal while draining is tested in scraping-socket.test.ts.)
 */

const answeringDb = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

const warnings: Record<string, unknown>[] = [];

function health(over: { draining?: boolean; ping?: () => Promise<string>; subscriberConnected?: boolean } = {}) {
  const routes = new Map<string, (res: unknown) => void>();
  const app = { get: (path: string, handler: (res: unknown) => void) => routes.set(path, handler) } as unknown as TemplatedApp;
  const ctx = {
    config: { gateway: { id: 'gw-test' }, auth: { adminToken: null } },
    log: { warn: (fields: Record<string, unknown>) => warnings.push(fields) },
    redis: { ping: over.ping ?? (() => Promise.resolve('PONG')), status: 'ready' },
    subscriber: { connected: over.subscriberConnected ?? true, state: over.subscriberConnected === false ? 'reconnecting' : 'ready' },
    db: answeringDb,
    state: { draining: over.draining ?? false },
  } as unknown as GatewayContext;
  registerHealthRoutes(app, ctx);
  return new Promise<{ status: string; body: any }>((resolve) => {
    let status = '';
    const res = {
      onAborted: () => undefined,
      cork: (fn: () => void) => fn(),
      writeStatus(s: string) {
        status = s;
        return res;
      },
      writeHeader: () => res,
      end: (body: string) => resolve({ status, body: JSON.parse(body) }),
    };
    routes.get('/health')!(res);
  });
}

describe('GET /health', () => {
  it('answers 200 when Redis (both connections) and Postgres answer and the gateway is not draining', async () => {
    expect(await health()).toEqual({
      status: '200 OK',
      body: { status: 'ok', failing: [], checks: { redis: { ok: true }, postgres: { ok: true } }, draining: false, gateway_id: 'gw-test' },
    });
  });

  it('fails (503, "draining") from the moment SIGTERM set the gateway draining', async () => {
    const { status, body } = await health({ draining: true });
    expect(status).toBe('503 Service Unavailable');
    expect(body).toMatchObject({ status: 'unavailable', failing: ['draining'], draining: true });
  });

  it('fails on Redis when the command connection or the subscriber connection is down', async () => {
    const ping = await health({ ping: () => Promise.reject(new Error('connection lost')) });
    expect(ping.status).toBe('503 Service Unavailable');
    // The reason goes to the log, not to whoever asks (/health is open).
    expect(ping.body).toMatchObject({ failing: ['redis'], checks: { redis: { ok: false } } });
    expect(JSON.stringify(ping.body)).not.toContain('connection lost');
    expect(warnings.at(-1)).toEqual({ check: 'redis', error: 'connection lost' });
    const subscriber = await health({ subscriberConnected: false });
    expect(subscriber.body).toMatchObject({ failing: ['redis'], checks: { redis: { ok: false } } });
    expect(warnings.at(-1)).toEqual({ check: 'redis', error: 'subscriber connection is reconnecting' });
  });
});
