import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase } from '../shared/db/database.js';
import { migrateToLatest } from '../shared/db/migrate.js';
import { CLOSE_CODES } from '../shared/protocol.js';
import { createScrapeQueue } from '../shared/queue.js';
import { Cluster } from 'ioredis';
import { connectRedis, createCluster, publishModeOf, whenClientReady } from '../shared/redis/cluster-connection.js';
import { createRedis } from '../shared/redis/connection.js';
import { JobEventLog } from '../shared/redis/job-event-log.js';
import { RedisKeys } from '../shared/redis/keys.js';
import { createServiceLogger, loadConfigOrExit, waitForDependenciesOrExit } from '../shared/startup.js';
import { createApp } from './app.js';
import { AuthHook } from './auth/auth-hook.js';
import { ClientIp } from './auth/client-ip.js';
import { Limits } from './limits/limits.js';
import type { GatewayContext } from './context.js';
import { describeDescriptorLimit } from './descriptor-limit.js';
import { GatewayMetrics } from './metrics.js';
import { detectUwsRuntime, listen, uWS, type TemplatedApp } from './uws.js';
import { clusterEventSubscriber } from './ws/cluster-event-subscriber.js';
import { closeGradually } from './ws/drain.js';
import { redisEventSubscriber } from './ws/event-subscriber.js';
import { JobChannels } from './ws/job-channels.js';
import { idleMuxConnections } from './ws/mux-socket.js';
import { MissingJobs } from './ws/missing-jobs.js';
import { JobIdentities } from './ws/job-identities.js';

const config = loadConfigOrExit('gateway');
const log = createServiceLogger('gateway', config, { gatewayId: config.gateway.id });

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

await waitForDependenciesOrExit(config, log);
const db = createDatabase(config.databaseUrl);
await withRetry('postgres migrations', () => migrateToLatest(db));

const keys = new RedisKeys(config.keyPrefix);
// Joins read state and history in bursts (a reconnect storm): one write for all reads of a tick.
const redis = connectRedis(config, log, `gateway:${config.gateway.id}:commands`, { enableAutoPipelining: true });
// On a cluster, events come over sharded pub/sub: a subscriber connection per shard of a served job.
const subscriberName = `gateway:${config.gateway.id}:subscriber`;
const subscriberConnection = config.redisCluster
  ? createCluster(config.redisCluster.nodes, log, subscriberName, { shardedSubscribers: true })
  : createRedis(config.redisUrl, log, subscriberName);
const subscriber =
  subscriberConnection instanceof Cluster ? clusterEventSubscriber(subscriberConnection) : redisEventSubscriber(subscriberConnection);
const queueConnection = connectRedis(config, log, `gateway:${config.gateway.id}:queue`);
const queue = createScrapeQueue(config, queueConnection);
// Without a listener BullMQ prints each connection error with its stack; its connection logs them once.
queue.on('error', (error) => log.debug({ err: error.message }, 'queue error'));
const eventLog = new JobEventLog(redis, keys, config.history, publishModeOf(config));

let app: TemplatedApp | undefined;
const compress = config.gateway.compression !== 'off';
const channels = new JobChannels(subscriber, keys, eventLog, (topic, frame, binary) => {
  // Compressed once per publish for every socket that negotiated permessage-deflate.
  app?.publish(topic, frame, binary, compress);
  if (!binary) metrics.delivered(frame);
}, log);
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
await Promise.all([whenClientReady(redis), whenClientReady(subscriberConnection)]);
channels.start();

const listenSocket = await listen(app, config.gateway.host, config.gateway.port, config.gateway.listenExclusivePort);
if (!listenSocket) {
  log.fatal(
    { host: config.gateway.host, port: config.gateway.port, exclusive: config.gateway.listenExclusivePort },
    'could not listen: port in use (set LISTEN_EXCLUSIVE_PORT=false to share it with SO_REUSEPORT)',
  );
  process.exit(1);
}
const port = uWS.us_socket_local_port(listenSocket);
log.info({ ...describeDescriptorLimit() }, 'connection capacity');
const url = `http://${['0.0.0.0', '::', ''].includes(config.gateway.host) ? '127.0.0.1' : config.gateway.host}:${port}/`;
log.info({ host: config.gateway.host, port, url, uwsNative: uws.native }, 'gateway listening');
log.info({ url }, `dashboard and API at ${url}`);

let stopping: Promise<void> | undefined;
/** Stop accepting, tell clients to reconnect elsewhere, wait for them to leave, then close. */
function shutdown(signal: string): Promise<void> {
  stopping ??= (async () => {
    log.info({ signal, connections: ctx.state.connections }, 'draining');
    ctx.state.draining = true;
    uWS.us_listen_socket_close(listenSocket);
    const deadline = Date.now() + config.gateway.drainTimeoutSeconds * 1000;
    // Spread over the drain window less a second for the last ones to leave.
    const spreadMs = Math.max(0, config.gateway.drainTimeoutSeconds * 1000 - 1000);
    await closeGradually([...channels.sockets(), ...idleMuxConnections()], spreadMs, CLOSE_CODES.GOING_AWAY, 'gateway shutting down; reconnect');
    while (ctx.state.connections > 0 && Date.now() < deadline) await sleep(50);
    await ctx.limits.releaseAll();
    await Promise.allSettled([queue.close(), db.destroy()]);
    redis.disconnect();
    subscriberConnection.disconnect();
    queueConnection.disconnect();
    log.info({ remaining: ctx.state.connections }, 'gateway stopped');
    process.exit(0);
  })();
  return stopping;
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

async function withRetry<T>(what: string, action: () => Promise<T>, attempts = 30): Promise<T> {
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
