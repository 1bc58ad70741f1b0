import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Config } from '../shared/config.js';
import type { Database } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import type { ScrapeJobData } from '../shared/queue.js';
import type { RedisClient } from '../shared/redis/cluster-connection.js';
import type { JobEventLog } from '../shared/redis/job-event-log.js';
import type { AuthHook } from './auth/auth-hook.js';
import type { ClientIp } from './auth/client-ip.js';
import type { Limits } from './limits/limits.js';
import type { GatewayMetrics } from './metrics.js';
import type { EventSubscriber } from './ws/event-subscriber.js';
import type { MissingJobs } from './ws/missing-jobs.js';
import type { JobIdentities } from './ws/job-identities.js';
import type { JobChannels } from './ws/job-channels.js';

/** Everything the gateway's handlers use, built once in gateway-app.ts and passed down. */
export interface GatewayContext {
  config: Config;
  log: Logger;
  db: Kysely<Database>;
  queue: Queue<ScrapeJobData>;
  /** Commands (reads, health checks); the subscriber connection is separate. */
  redis: RedisClient;
  subscriber: EventSubscriber;
  eventLog: JobEventLog;
  channels: JobChannels;
  metrics: GatewayMetrics;
  uws: { native: boolean; binary: string | null };
  // --- Access control and abuse limits ---
  auth: AuthHook;
  limits: Limits;
  clientIp: ClientIp;
  missingJobs: MissingJobs;
  /** Job rows' identities, so that a join serves only the row's own stream. */
  identities: JobIdentities;
  /** Mutable gateway state. */
  state: GatewayState;
}

export interface GatewayState {
  connections: number;
  connectionsOpened: number;
  slowConsumersClosed: number;
  /** Set on SIGTERM: readiness fails and new WebSocket upgrades are refused. */
  draining: boolean;
  startedAt: number;
}
