import { sql } from 'kysely';
import type { GatewayContext } from '../context.js';
import type { TemplatedApp } from '../uws.js';
import { adminCheck } from '../auth/admin.js';
import { immediate, reply, sendError, sendJson, sendUnavailable } from './responses.js';

const CHECK_TIMEOUT_MS = 2000;

/** GET /health (liveness + readiness, open to load balancers) and GET /ws/stats (ADMIN_TOKEN when set). */
export function registerHealthRoutes(app: TemplatedApp, ctx: GatewayContext): void {
  const isAdmin = adminCheck(ctx.config.auth.adminToken);
  app.get('/health', (res) => {
    const r = reply(res);
    void health(ctx)
      .then((body) => sendJson(r, body.status === 'ok' ? 200 : 503, body))
      .catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });

  app.get('/ws/stats', (res, req) => {
    if (!isAdmin(req.getHeader('authorization'))) {
      sendError(immediate(res), 401, 'UNAUTHORIZED', 'send the operator token: Authorization: Bearer <ADMIN_TOKEN>');
      return;
    }
    sendJson(immediate(res), 200, stats(ctx));
  });
}

/**
 * What a load balancer needs and no more: ok or not, and which dependency fails. The reasons
 * (addresses, driver messages) go to the log, not to whoever asks.
 */
async function health(ctx: GatewayContext) {
  const [redis, postgres] = await Promise.all([
    check(async () => {
      await ctx.redis.ping();
      if (!ctx.subscriber.connected) throw new Error(`subscriber connection is ${ctx.subscriber.state}`);
    }),
    check(() => sql`select 1`.execute(ctx.db)),
  ]);
  const failing = [redis.ok ? null : 'redis', postgres.ok ? null : 'postgres', ctx.state.draining ? 'draining' : null].filter(
    (x): x is string => x !== null,
  );
  for (const [name, result] of [['redis', redis], ['postgres', postgres]] as const) {
    if (!result.ok) ctx.log.warn({ check: name, error: result.error }, 'health check failed');
  }
  return {
    status: failing.length === 0 ? 'ok' : 'unavailable',
    failing,
    checks: { redis: { ok: redis.ok }, postgres: { ok: postgres.ok } },
    draining: ctx.state.draining,
    gateway_id: ctx.config.gateway.id,
  };
}

async function check(probe: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export function stats(ctx: GatewayContext) {
  const { channels, state } = ctx;
  return {
    total_connections: state.connections,
    active_jobs: channels.activeJobs,
    redis_connected: ctx.redis.status === 'ready' && ctx.subscriber.connected,
    gateway_id: ctx.config.gateway.id,
    redis_channels: channels.redisChannels,
    topics: channels.activeJobs,
    events_received: channels.stats.eventsReceived,
    events_forwarded: channels.stats.eventsForwarded,
    duplicates_dropped: channels.stats.duplicatesDropped,
    gaps_recovered: channels.stats.gapsRecovered,
    resyncs: channels.stats.resyncs,
    connections_opened: state.connectionsOpened,
    slow_consumers_closed: state.slowConsumersClosed,
    draining: state.draining,
    uws_native: ctx.uws.native,
    uws_binary: ctx.uws.binary,
    uptime_seconds: Math.round((Date.now() - state.startedAt) / 1000),
    // Access control: what unknown or unauthenticated upgrades cost.
    auth_enabled: ctx.config.auth.enabled,
    join_postgres_lookups: ctx.missingJobs.lookups,
  };
}
