import { Cluster, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedis } from './connection.js';
import type { PublishMode } from './job-event-log.js';

/** A connection to the deployment's Redis: a single server, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * A Redis Cluster client that follows failovers: it re-reads the slot map every second (a
 * promoted replica is found without waiting for a MOVED), and gives a command in flight during
 * a failover about ten seconds of retries before it fails (a node timeout plus the election).
 */
export function createCluster(
  nodes: { host: string; port: number }[],
  log: Logger,
  name: string,
  options: ClusterOptions & { redisOptions?: RedisOptions } = {},
): Cluster {
  const cluster = new Cluster(nodes, {
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: 2000,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    maxRedirections: 50,
    clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    ...options,
    redisOptions: { connectionName: name, enableAutoPipelining: false, ...options.redisOptions },
  });
  let wasReady = false;
  cluster.on('ready', () => {
    if (wasReady) log.info({ redis: name }, 'redis cluster reconnected');
    wasReady = true;
  });
  cluster.on('error', (err: Error) => log.warn({ redis: name, err: err.message }, 'redis cluster error'));
  cluster.on('+node', (node: Redis) => log.debug({ redis: name, node: `${node.options.host}:${node.options.port}` }, 'cluster node added'));
  cluster.on('-node', (node: Redis | null, key?: string) => log.info({ redis: name, node: key ?? (node ? `${node.options.host}:${node.options.port}` : '?') }, 'cluster node gone'));
  return cluster;
}

/**
 * The deployment's Redis for a role: the cluster of REDIS_CLUSTER_NODES when set, else the single
 * Redis of REDIS_URL. `options` apply to the connection (or to every node connection of the cluster).
 */
export function connectRedis(config: Config, log: Logger, name: string, options: RedisOptions = {}): RedisClient {
  if (!config.redisCluster) return createRedis(config.redisUrl, log, name, options);
  const { enableAutoPipelining, ...nodeOptions } = options;
  return createCluster(config.redisCluster.nodes, log, name, { enableAutoPipelining, redisOptions: nodeOptions });
}

/** How the emit script publishes here: sharded pub/sub on a cluster (an event stays in its shard). */
export function publishModeOf(config: Config): PublishMode {
  return config.redisCluster ? 'SPUBLISH' : 'PUBLISH';
}

/** Resolves once the client is ready (connected, and past its ready check). */
export function whenClientReady(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}
