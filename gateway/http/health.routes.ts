import { sql } from 'kysely';
import type { GatewayContext } from '../context.js';
import type { TemplatedApp } from '../uws.js';
import { reply, sendJson, sendUnavailable } from './responses.js';

const CHECK_TIMEOUT_MS = 2000;

/** GET /health (liveness + readiness) and GET /ws/stats. */
export function registerHealthRoutes(app: TemplatedApp, ctx: GatewayContext): void {
  app.get('/health', (res) => {
    const r = reply(res);
    void health(ctx)
      .then((body) => sendJson(r, body.status === 'ok' ? 200 : 503, body))
      .catch((error: unknown) => sendUnavailable(ctx.log, r, error));
  });

  app.get('/ws/stats', (res) => {
    sendJson(reply(res), 200, stats(ctx));
  });
}

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
  return {
    status: failing.length === 0 ? 'ok' : 'unavailable',
    failing,
    checks: { redis, postgres },
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
  };
}
