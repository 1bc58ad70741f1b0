import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import type { Config } from '../shared/config.js';
import { createDatabase } from '../shared/db/database.js';
import { migrateToLatest } from '../shared/db/migrate.js';
import type { Logger } from '../shared/logger.js';
import { CANCEL_REASON } from '../shared/job-cancellation.js';
import { bullmqJobId, createScrapeQueue, type ScrapeJobData } from '../shared/queue.js';
import { connectRedis, publishModeOf } from '../shared/redis/cluster-connection.js';
import { JobEventLog } from '../shared/redis/job-event-log.js';
import { RedisKeys } from '../shared/redis/keys.js';
import { listenForCancels } from './cancel-listener.js';
import { JobCancelledError } from './errors.js';
import { RedisEventSink } from './events/redis-event-sink.js';
import { FinalFailureHandler } from './final-failure-handler.js';
import { flightSearchKind } from './jobs/flight-search.kind.js';
import { jobKinds } from './jobs/job-kind.js';
import { WorkerMetrics } from './metrics.js';
import { FlightOrchestrator } from './orchestrator/orchestrator.js';
import { createScrapeProcessor } from './processor.js';
import { startStaleJobSweep } from './stale-job-sweep.js';
import { createScrapers } from './scrapers/registry.js';

export interface WorkerApp {
  readonly id: string;
  /** Port of GET /metrics, or null when METRICS_PORT is unset. */
  readonly metricsPort: number | null;
  /** Stops taking jobs, lets the active ones finish, then closes every connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Wires a worker process: Postgres (migrated), Redis for events, the BullMQ worker on the scrape
 * queue. Resolves once the worker is consuming; on a failed start closes what it opened.
 */
export async function startWorkerApp(config: Config, log: Logger): Promise<WorkerApp> {
  const id = `${hostname()}-${process.pid}`;
  const closers: (() => Promise<unknown>)[] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Last opened, first closed: the BullMQ worker drains before its connections go.
      for (const closer of closers.reverse()) {
        try {
          await closer();
        } catch (error) {
          log.warn({ err: error }, 'error while closing');
        }
      }
    })());

  try {
    const db = createDatabase(config.databaseUrl, config.worker.concurrency + 2);
    closers.push(() => db.destroy());
    const applied = await migrateToLatest(db);
    if (applied.length) log.info({ applied }, 'migrations applied');

    const keys = new RedisKeys(config.keyPrefix);
    const eventsRedis = connectRedis(config, log, 'worker-events');
    closers.push(() => eventsRedis.quit());
    // BullMQ blocks on its connection, which must then never give up on a command.
    const queueRedis = connectRedis(config, log, 'worker-queue', { maxRetriesPerRequest: null });
    closers.push(() => queueRedis.quit());

    const metrics = config.worker.metricsPort === null ? null : await startMetrics(config, log, id, closers);
    const scrapers = createScrapers({ config: config.sources, redis: eventsRedis, keys, log });
    // Which sources this worker can search (kiwi only with its key), for whoever reads the logs.
    log.info({ sources: [...scrapers.keys()] }, 'fare sources enabled');
    const orchestrator = new FlightOrchestrator({
      scrapers: metrics ? new Map([...scrapers].map(([name, scraper]) => [name, metrics.measured(scraper)])) : scrapers,
      db,
      concurrency: config.worker.orchestratorConcurrency,
      failureThreshold: config.worker.jobFailureThreshold,
      log,
    });
    const eventLog = new JobEventLog(eventsRedis, keys, config.history, publishModeOf(config));
    const sink = new RedisEventSink(eventLog, { pipeline: config.emitPipeline, onCall: metrics?.emitCall });
    const processor = createScrapeProcessor({ db, sink, kinds: jobKinds(flightSearchKind(orchestrator)), log, workerId: id });
    // Closed after the worker (closers run last first): its last 'failed' events still get recorded.
    const finalFailures = new FinalFailureHandler({ db, sink, log });
    closers.push(() => finalFailures.settled());

    const worker = new Worker<ScrapeJobData>(config.queueName, processor, {
      name: id,
      connection: queueRedis,
      prefix: keys.bullmqPrefix,
      concurrency: config.worker.concurrency,
      lockDuration: config.worker.lockDurationMs,
      stalledInterval: config.worker.stalledIntervalMs,
      // A job whose worker died (lock expired) goes back to the queue for another worker, up to
      // as many times as it may be attempted; past that BullMQ fails it without calling the
      // processor, and FinalFailureHandler ends its row and stream.
      maxStalledCount: Math.max(1, config.worker.attempts),
      autorun: false,
    });
    closers.push(() => worker.close());
    worker.on('error', (error) => log.error({ err: error }, 'worker error'));
    worker.on('failed', finalFailures.onFailed);
    if (metrics) {
      const seconds = (job: { processedOn?: number; finishedOn?: number }) => ((job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000;
      worker.on('completed', (job) => metrics.jobEnded('completed', seconds(job)));
      worker.on('failed', (job, error) => {
        if (!job) return;
        if (error instanceof JobCancelledError) {
          metrics.jobEnded('cancelled', seconds(job));
          return;
        }
        const retried = job.attemptsMade < (job.opts.attempts ?? 1) && job.finishedOn === undefined;
        metrics.jobEnded(retried ? 'retried' : 'failed', seconds(job));
      });
    }
    worker.on('stalled', (bullJobId) => log.warn({ bullJobId }, 'stalled job handed back to the queue'));
    // Another worker may already own a job whose lock this one could not renew: stop working on it.
    worker.on('lockRenewalFailed', (bullJobIds) => {
      for (const bullJobId of bullJobIds) {
        log.warn({ bullJobId }, 'job lock lost; aborting it here');
        worker.cancelJob(bullJobId, 'job lock lost');
      }
    });
    // Cancels announced by a gateway abort the job here if this worker runs it (no-op otherwise).
    const cancelRedis = connectRedis(config, log, 'worker-cancels');
    closers.push(async () => cancelRedis.disconnect());
    await listenForCancels(cancelRedis, keys, log, (jobId) => {
      if (worker.cancelJob(bullmqJobId(jobId), CANCEL_REASON)) log.info({ jobId }, 'cancel received; aborting the job');
    });
    if (config.staleSweep.intervalSeconds > 0) {
      // A queue handle of its own: the sweep asks BullMQ whether it still holds a running job.
      const sweepQueue = createScrapeQueue(config, eventsRedis);
      closers.push(() => sweepQueue.close());
      const stopSweep = startStaleJobSweep({ db, queue: sweepQueue, sink, eventLog, log, staleAfterSeconds: config.staleSweep.staleAfterSeconds }, config.staleSweep.intervalSeconds);
      closers.push(stopSweep);
    }
    void worker.run().catch((error: unknown) => log.error({ err: error }, 'worker loop stopped'));
    await worker.waitUntilReady();
    return { id, metricsPort: metrics?.port ?? null, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The metrics registry and its HTTP endpoint, with a queue handle of its own for the queue gauges. */
async function startMetrics(config: Config, log: Logger, id: string, closers: (() => Promise<unknown>)[]) {
  const redis = connectRedis(config, log, 'worker-metrics');
  closers.push(() => redis.quit());
  const queue = createScrapeQueue(config, redis);
  closers.push(() => queue.close());
  const metrics = new WorkerMetrics(id, queue);
  const server = await metrics.serve(config.worker.metricsHost, config.worker.metricsPort ?? 0);
  closers.push(() => server.close());
  return Object.assign(metrics, { port: server.port });
}
