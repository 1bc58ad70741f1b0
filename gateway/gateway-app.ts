import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type RedisOptions } from 'ioredis';
import type { Config } from '../shared/config.js';
import { createDatabase } from '../shared/db/database.js';
import { migrateToLatest } from '../shared/db/migrate.js';
import type { Logger } from '../shared/logger.js';
import { CLOSE_CODES } from '../shared/protocol.js';
import { createScrapeQueue } from '../shared/queue.js';
import { connectRedis, createCluster, publishModeOf, whenClientReady } from '../shared/redis/cluster-connection.js';
import { createRedis } from '../shared/redis/connection.js';
import { JobEventLog } from '../shared/redis/job-event-log.js';
import { RedisKeys } from '../shared/redis/keys.js';
import { createApp } from './app.js';
import { AuthHook } from './auth/auth-hook.js';
import { ClientIp } from './auth/client-ip.js';
import type { GatewayContext } from './context.js';
import { describeDescriptorLimit } from './descriptor-limit.js';
import { Limits } from './limits/limits.js';
import { GatewayMetrics } from './metrics.js';
import { detectUwsRuntime, listen, uWS, type TemplatedApp } from './uws.js';
import { clusterEventSubscriber } from './ws/cluster-event-subscriber.js';
import { closeGradually } from './ws/drain.js';
import { idleMuxConnections } from './ws/mux-socket.js';
import { redisEventSubscriber } from './ws/event-subscriber.js';
import { JobChannels } from './ws/job-channels.js';
import { JobIdentities } from './ws/job-identities.js';
import { MissingJobs } from './ws/missing-jobs.js';

export interface GatewayApp {
  /** The port it listens on (the one chosen when PORT=0). */
  readonly port: number;
  /** Where the dashboard and the API are, for people reading the logs. */
  readonly url: string;
  /**
   * Drains and stops: refuses new upgrades, tells every client to reconnect elsewhere (spread over
   * DRAIN_TIMEOUT_SECONDS), waits for them to leave, then closes every connection. Idempotent: a
   * second call returns the first one's promise.
   */
  close(reason?: string): Promise<void>;
}

/** The port is taken by another process (LISTEN_EXCLUSIVE_PORT): a start that cannot succeed. */
export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
}

/**
 * Past this, a command a Redis accepted but never answered (a hung server, a connection that died
 * without a reset, a command in flight when it dropped) fails. Far above a command's normal time,
 * even under a reconnect storm's event-loop lag, and above /health's 2 s: a Redis this slow is
 * already out of the load balancer's rotation. It bounds a wait; it is not a latency target.
 */
const COMMAND_TIMEOUT_MS = 2500;

/**
 * A single Redis' connections that answer requests fail a command at once while the server is
 * unreachable, instead of queueing it until Redis is back (ioredis' offline queue): a client then
 * gets 503 or close 4003 and retries, rather than waiting in silence for as long as the outage.
 * A Redis Cluster keeps its own retries: they ride out a failover, which is its purpose.
 */
function failFast(config: Config): RedisOptions {
  return config.redisCluster ? {} : { enableOfflineQueue: false, commandTimeout: COMMAND_TIMEOUT_MS };
}

/**
 * Wires a gateway process: Postgres (migrated), the Redis connections (commands, events, queue),
 * the fan-out, the uWS app, and the listen socket. Resolves once it listens; on a failed start
 * closes what it opened and rejects.
 */
export async function startGatewayApp(config: Config, log: Logger): Promise<GatewayApp> {
  const closers: (() => unknown)[] = [];
  const closeOpened = async () => {
    // Last opened, first closed.
    for (const closer of closers.splice(0).reverse()) {
      try {
        await closer();
      } catch (error) {
        log.warn({ err: error }, 'error while closing');
      }
    }
  };

  if (!config.auth.enabled) {
    log.warn('AUTH_ENABLED=false: anyone who reaches this gateway can enqueue jobs and watch every job; use it only on a trusted network');
  }
  const uws = detectUwsRuntime();
  if (uws.native) {
    log.info({ binary: uws.binary }, 'uWebSockets.js native binary loaded');
  } else {
    log.error(
      'uWebSockets.js native binary FAILED TO LOAD: running on its slow ws-based fallback. ' +
        'Check the Node.js version (16-20) and glibc (>= 2.27); /ws/stats reports uws_native: false',
    );
  }

  try {
    const db = createDatabase(config.databaseUrl);
    closers.push(() => db.destroy());
    await withRetry(log, 'postgres migrations', () => migrateToLatest(db));

    const keys = new RedisKeys(config.keyPrefix);
    // Joins read state and history in bursts (a reconnect storm): one write for all reads of a tick.
    const redis = connectRedis(config, log, `gateway:${config.gateway.id}:commands`, { enableAutoPipelining: true, ...failFast(config) });
    closers.push(() => redis.disconnect());
    // On a cluster, events come over sharded pub/sub: a subscriber connection per shard of a served job.
    // On a single Redis a SUBSCRIBE while it is down fails at once (the joining client gets 4003);
    // the connection itself keeps reconnecting, and resubscribes what it holds when back.
    const subscriberName = `gateway:${config.gateway.id}:subscriber`;
    const subscriberConnection = config.redisCluster
      ? createCluster(config.redisCluster.nodes, log, subscriberName, { shardedSubscribers: true })
      : createRedis(config.redisUrl, log, subscriberName, failFast(config));
    closers.push(() => subscriberConnection.disconnect());
    const subscriber =
      subscriberConnection instanceof Cluster ? clusterEventSubscriber(subscriberConnection) : redisEventSubscriber(subscriberConnection);
    // BullMQ's Queue sends only short commands: with Redis down, an enqueue fails at once and
    // POST /api/jobs removes the row again and answers 503.
    const queueConnection = connectRedis(config, log, `gateway:${config.gateway.id}:queue`, failFast(config));
    closers.push(() => queueConnection.disconnect());
    const queue = createScrapeQueue(config, queueConnection);
    closers.push(() => queue.close());
    // Without a listener BullMQ prints each connection error with its stack; its connection logs them once.
    queue.on('error', (error) => log.debug({ err: error.message }, 'queue error'));
    const eventLog = new JobEventLog(redis, keys, config.history, publishModeOf(config));

    let app: TemplatedApp | undefined;
    const compress = config.gateway.compression !== 'off';
    const channels = new JobChannels(
      subscriber,
      keys,
      eventLog,
      (topic, frame, binary) => {
        // Compressed once per publish for every socket that negotiated permessage-deflate.
        app?.publish(topic, frame, binary, compress);
        if (!binary) metrics.delivered(frame);
      },
      log,
    );
    const state = { connections: 0, connectionsOpened: 0, slowConsumersClosed: 0, draining: false, startedAt: Date.now() };
    const metrics = new GatewayMetrics({ state, channels, redis, subscriber, config });
    const ctx: GatewayContext = {
      config,
      log,
      db,
      queue,
      redis,
      subscriber,
      eventLog,
      channels,
      uws,
      metrics,
      auth: new AuthHook(config, db),
      limits: new Limits(redis, keys, config.limits, log),
      clientIp: new ClientIp(config.auth.trustedProxies),
      missingJobs: new MissingJobs(),
      identities: new JobIdentities(db),
      state,
    };
    app = createApp(ctx);
    // A SUBSCRIBE queued before the connection's ready check would turn it into a subscriber too
    // early; start fan-out only on ready connections (they reconnect by themselves afterwards).
    // Without an offline queue, commands before the first ready would fail: wait for all three.
    await Promise.all([whenClientReady(redis), whenClientReady(subscriberConnection), whenClientReady(queueConnection)]);
    channels.start();

    const listenSocket = await listen(app, config.gateway.host, config.gateway.port, config.gateway.listenExclusivePort);
    if (!listenSocket) {
      log.fatal(
        { host: config.gateway.host, port: config.gateway.port, exclusive: config.gateway.listenExclusivePort },
        'could not listen: port in use (set LISTEN_EXCLUSIVE_PORT=false to share it with SO_REUSEPORT)',
      );
      throw new PortInUseError(`port ${config.gateway.port} in use`);
    }
    const port = uWS.us_socket_local_port(listenSocket);
    log.info({ ...describeDescriptorLimit() }, 'connection capacity');
    const url = `http://${['0.0.0.0', '::', ''].includes(config.gateway.host) ? '127.0.0.1' : config.gateway.host}:${port}/`;
    // Test helpers and operators wait for exactly this message, with its port.
    log.info({ host: config.gateway.host, port, url, uwsNative: uws.native }, 'gateway listening');
    log.info({ url }, `dashboard and API at ${url}`);

    let stopping: Promise<void> | undefined;
    const close = (reason = 'close') =>
      (stopping ??= (async () => {
        log.info({ signal: reason, connections: ctx.state.connections }, 'draining');
        ctx.state.draining = true;
        uWS.us_listen_socket_close(listenSocket);
        const deadline = Date.now() + config.gateway.drainTimeoutSeconds * 1000;
        // Spread over the drain window less a second for the last ones to leave.
        const spreadMs = Math.max(0, config.gateway.drainTimeoutSeconds * 1000 - 1000);
        await closeGradually([...channels.sockets(), ...idleMuxConnections()], spreadMs, CLOSE_CODES.GOING_AWAY, 'gateway shutting down; reconnect');
        while (ctx.state.connections > 0 && Date.now() < deadline) await sleep(50);
        const remaining = ctx.state.connections;
        // Whatever is still open (sockets past the deadline, idle HTTP keep-alive connections) is
        // cut here: a process exits anyway, but a gateway closed in-process must not keep serving.
        (app as unknown as { close?: () => void }).close?.();
        await ctx.limits.releaseAll().catch((error: unknown) => log.warn({ err: error }, 'could not release connection slots'));
        await closeOpened();
        log.info({ remaining }, 'gateway stopped');
      })());
    return { port, url, close };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}

async function withRetry<T>(log: Logger, what: string, action: () => Promise<T>, attempts = 30): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= attempts) throw error;
      log.warn({ attempt, reason: error instanceof Error ? error.message : String(error) }, `${what} failed; retrying`);
      await sleep(1000);
    }
  }
}
