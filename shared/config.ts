import { hostname } from 'node:os';
import { z } from 'zod';
import { SCRAPER_NAMES, SIM_SCRAPER_NAMES } from './scraper-names.js';
import { checkSourcesEnabled, sourceEnv, toSourcesConfig } from './sources-config.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const positiveMs = int(1, 24 * 3600 * 1000);
const fraction = z.coerce.number().min(0).max(1);
const commaList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

/**
 * Every environment variable the services read, with defaults that work on a developer machine
 * (Redis and Postgres on localhost). Parsed once at start; nothing else reads process.env.
 */
const envSchema = z.object({
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/postgres'),
  /** Prefix of every Redis key, channel and BullMQ queue: one Redis can host several isolated deployments (and tests). */
  KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, ":", "_" or "-" (1-64)').default('scout:'),
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-" (1-64)').default('scrape'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** auto: readable lines on a terminal when pino-pretty is installed (a development install), JSON otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** How long a starting service waits for Redis and Postgres before it exits naming the missing one. */
  STARTUP_TIMEOUT_SECONDS: int(1, 3600).default(60),

  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(8000),
  GATEWAY_ID: z.string().min(1).max(100).default(`${hostname()}-${process.pid}`),
  /** Browser Origins allowed to open WebSockets; empty allows any (development). */
  ALLOWED_ORIGINS: commaList.default([]),
  /** uWS listens with SO_REUSEPORT unless exclusive: tests and development want a port clash to fail loudly. */
  LISTEN_EXCLUSIVE_PORT: z.enum(['true', 'false']).transform((v) => v === 'true').default(true),
  MAX_BODY_BYTES: int(256, 10 * 1024 * 1024).default(64 * 1024),
  WS_IDLE_TIMEOUT_SECONDS: int(8, 960).default(60),
  /** Bytes a socket may have queued before it is closed as a slow consumer (it then resumes from its last seq). */
  WS_MAX_BACKPRESSURE_BYTES: int(1024, 256 * 1024 * 1024).default(1024 * 1024),
  /** Seconds the gateway keeps draining before it exits on SIGTERM. */
  DRAIN_TIMEOUT_SECONDS: int(0, 600).default(10),

  /** permessage-deflate on both WebSocket paths, for clients that offer it: uWS' shared compressor, one per socket, or none. */
  WS_COMPRESSION: z.enum(['off', 'shared', 'dedicated']).default('shared'),
  /** Job subscriptions one WS /ws connection may hold at once. */
  MAX_SUBSCRIPTIONS_PER_CONNECTION: int(1, 100_000).default(100),
  /** Seconds between the comment lines that keep an idle SSE response open through proxies. */
  SSE_HEARTBEAT_SECONDS: int(1, 600).default(15),

  WORKER_CONCURRENCY: int(1, 1000).default(4),
  /** Scraper tasks (route × dates × scraper) a single job runs at once. */
  ORCHESTRATOR_CONCURRENCY: int(1, 1000).default(8),
  /** Default scrapers of a job that names none. */
  SCRAPERS: commaList
    .pipe(z.array(z.enum(SCRAPER_NAMES)).min(1, 'name at least one scraper'))
    .default([...SIM_SCRAPER_NAMES]),
  /** A job fails when more than this share of its tasks failed (1 = only when every task failed). */
  JOB_FAILURE_THRESHOLD: fraction.default(1),
  JOB_ATTEMPTS: int(1, 100).default(3),
  JOB_BACKOFF_MS: int(0, 3_600_000).default(2000),
  /** BullMQ lock: a worker that stops renewing it for this long is presumed dead and its job is handed on. */
  JOB_LOCK_DURATION_MS: positiveMs.default(30_000),
  JOB_STALLED_INTERVAL_MS: positiveMs.default(30_000),

  ...sourceEnv,

  /** Events kept per job for resume; older ones get a resync snapshot instead. */
  HISTORY_MAX_EVENTS: int(10, 1_000_000).default(10_000),
  /** How long a job's history and live state stay in Redis after it ends. */
  HISTORY_RETENTION_SECONDS: int(1, 30 * 24 * 3600).default(24 * 3600),
  // Once a job has ended Postgres serves its snapshot, so its stream need not stay as long.
  FINISHED_RETENTION_SECONDS: int(1, 30 * 24 * 3600).default(3600),

  // Redis Cluster and the emit path.
  /**
   * Seeds of a Redis Cluster as host:port, comma-separated: every process then runs on the cluster
   * (sharded pub/sub, hash-tagged queue). Unset: the single Redis at REDIS_URL.
   */
  REDIS_CLUSTER_NODES: commaList.pipe(z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port'))).default([]),
  /** Send a job's emits without waiting for each other, a tick's emits in one script call. */
  EMIT_PIPELINE: z.enum(['true', 'false']).transform((v) => v === 'true').default(true),

  /** Port of the worker's Prometheus endpoint (GET /metrics, on HOST); unset: none; 0: any free port. */
  METRICS_PORT: int(0, 65535).optional(),

  // --- Access control and abuse limits (gateway) ---
  /** false: anyone may enqueue and watch any job (the seed's behaviour), with a warning at start. */
  AUTH_ENABLED: z.enum(['true', 'false']).transform((v) => v === 'true').default(true),
  /** HS256 key of watch tokens; at least 32 bytes when auth is on (checked by the gateway at start). */
  WATCH_TOKEN_SECRET: z.string().optional(),
  WATCH_TOKEN_TTL_SECONDS: int(10, 30 * 24 * 3600).default(3600),
  /** When set, /ws/stats requires `Authorization: Bearer <ADMIN_TOKEN>`. */
  ADMIN_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** Addresses or CIDR blocks of proxies whose X-Forwarded-* headers are believed (the load balancer). */
  TRUSTED_PROXIES: commaList.default([]),
  /** The public base URL (https://scout.example) of ws_url / status_url; else from the Host header. */
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  RATE_LIMIT_JOBS_PER_MINUTE: int(1, 1_000_000).default(60),
  MAX_ACTIVE_JOBS_PER_KEY: int(1, 1_000_000).default(20),
  RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: int(1, 10_000_000).default(50),
  MAX_CONNECTIONS_PER_IP: int(1, 10_000_000).default(1000),
  /** Frames a client may send per second on one socket (WS /ws: after a burst of MAX_SUBSCRIPTIONS_PER_CONNECTION); more closes it with 1008. */
  WS_MESSAGES_PER_SECOND: int(1, 10_000).default(20),
  /** History bytes one client (API key owner, or IP) may have replayed per second by resumes on any transport, averaged over 10 s. */
  REPLAY_BYTES_PER_SECOND: int(1024, 1024 * 1024 * 1024).default(1024 * 1024),

  // --- Stale-running sweep (worker) ---
  /** How often a worker looks for `running` jobs nobody runs any more (seconds); 0 turns the sweep off. */
  STALE_JOB_SWEEP_INTERVAL_SECONDS: int(0, 3600).default(30),
  /** A `running` job with no queue entry that has emitted nothing for this long is ended as failed. */
  STALE_JOB_AFTER_SECONDS: int(1, 7 * 24 * 3600).default(120),
}).superRefine(checkSourcesEnabled);

export type Config = ReturnType<typeof toConfig>;

function toConfig(env: z.infer<typeof envSchema>) {
  return {
    redisUrl: env.REDIS_URL,
    databaseUrl: env.DATABASE_URL,
    keyPrefix: env.KEY_PREFIX,
    queueName: env.QUEUE_NAME,
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT,
    startupTimeoutSeconds: env.STARTUP_TIMEOUT_SECONDS,
    gateway: {
      id: env.GATEWAY_ID,
      host: env.HOST,
      port: env.PORT,
      allowedOrigins: env.ALLOWED_ORIGINS,
      listenExclusivePort: env.LISTEN_EXCLUSIVE_PORT,
      maxBodyBytes: env.MAX_BODY_BYTES,
      idleTimeoutSeconds: env.WS_IDLE_TIMEOUT_SECONDS,
      maxBackpressureBytes: env.WS_MAX_BACKPRESSURE_BYTES,
      drainTimeoutSeconds: env.DRAIN_TIMEOUT_SECONDS,
      compression: env.WS_COMPRESSION,
      maxSubscriptionsPerConnection: env.MAX_SUBSCRIPTIONS_PER_CONNECTION,
      sseHeartbeatSeconds: env.SSE_HEARTBEAT_SECONDS,
    },
    worker: {
      concurrency: env.WORKER_CONCURRENCY,
      orchestratorConcurrency: env.ORCHESTRATOR_CONCURRENCY,
      scrapers: env.SCRAPERS,
      jobFailureThreshold: env.JOB_FAILURE_THRESHOLD,
      attempts: env.JOB_ATTEMPTS,
      backoffMs: env.JOB_BACKOFF_MS,
      lockDurationMs: env.JOB_LOCK_DURATION_MS,
      stalledIntervalMs: env.JOB_STALLED_INTERVAL_MS,
      metricsHost: env.HOST,
      metricsPort: env.METRICS_PORT ?? null,
    },
    sources: toSourcesConfig(env),
    history: {
      maxEvents: env.HISTORY_MAX_EVENTS,
      retentionSeconds: env.HISTORY_RETENTION_SECONDS,
      finishedRetentionSeconds: env.FINISHED_RETENTION_SECONDS,
    },
    redisCluster: env.REDIS_CLUSTER_NODES.length > 0 ? { nodes: env.REDIS_CLUSTER_NODES.map(parseHostPort) } : null,
    emitPipeline: env.EMIT_PIPELINE,
    auth: {
      enabled: env.AUTH_ENABLED,
      watchTokenSecret: env.WATCH_TOKEN_SECRET ?? null,
      watchTokenTtlSeconds: env.WATCH_TOKEN_TTL_SECONDS,
      adminToken: env.ADMIN_TOKEN ?? null,
      trustedProxies: env.TRUSTED_PROXIES,
      publicUrl: env.PUBLIC_URL ?? null,
    },
    limits: {
      jobsPerMinute: env.RATE_LIMIT_JOBS_PER_MINUTE,
      maxActiveJobsPerKey: env.MAX_ACTIVE_JOBS_PER_KEY,
      upgradesPerSecondPerIp: env.RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP,
      maxConnectionsPerIp: env.MAX_CONNECTIONS_PER_IP,
      messagesPerSecond: env.WS_MESSAGES_PER_SECOND,
      replayBytesPerSecond: env.REPLAY_BYTES_PER_SECOND,
    },
    staleSweep: {
      intervalSeconds: env.STALE_JOB_SWEEP_INTERVAL_SECONDS,
      staleAfterSeconds: env.STALE_JOB_AFTER_SECONDS,
    },
  };
}

function parseHostPort(seed: string): { host: string; port: number } {
  const at = seed.lastIndexOf(':');
  return { host: seed.slice(0, at), port: Number(seed.slice(at + 1)) };
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming every bad variable. Empty strings count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        return `${issue.path.join('.')}: ${issue.message} (got ${shownValue(name, present[name])})`;
      }),
    );
  }
  return toConfig(parsed.data);
}

// --- Secrets in configuration errors ---
/** Variables whose value is never printed, not even when it is wrong. */
const SECRET_VARIABLES = new Set(['WATCH_TOKEN_SECRET', 'ADMIN_TOKEN']);

/**
 * A bad value as a config error may show it: secrets not at all, URLs without their password
 * (an invalid DATABASE_URL is still likely to hold the real one).
 */
function shownValue(name: string, value: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (SECRET_VARIABLES.has(name)) return `a value of ${value.length} characters`;
  return JSON.stringify(value.replace(/(\/\/[^/@:]*:)[^@/]*@/g, '$1***@'));
}

/**
 * What only the gateway needs: with auth on, a WATCH_TOKEN_SECRET of at least 32 bytes (a
 * shorter HS256 key can be brute-forced offline from any token). Throws ConfigError.
 */
export function checkGatewayConfig(config: Config): void {
  const secret = config.auth.watchTokenSecret;
  if (config.auth.enabled && (secret === null || Buffer.byteLength(secret, 'utf8') < 32)) {
    throw new ConfigError([
      `WATCH_TOKEN_SECRET: at least 32 bytes are required while AUTH_ENABLED is true (got ${secret === null ? 'nothing' : `${Buffer.byteLength(secret)} bytes`}); e.g. openssl rand -base64 48`,
    ]);
  }
}

/** Config documentation source: names and defaults, for README and --help. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);
