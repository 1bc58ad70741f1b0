import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { failureOf } from './scrapers/http/source-error.js';
import type { Scraper } from './scrapers/scraper.js';

/** How a job run ended on this worker (the `outcome` label of scout_worker_jobs_total). */
export type JobOutcome = 'completed' | 'failed' | 'retried' | 'cancelled';

/**
 * The worker's Prometheus metrics: jobs by outcome and duration, fare-source calls by source and
 * outcome with their latency, and the queue seen from here (depth by state, age of the oldest
 * waiting job, read from Redis when Prometheus scrapes).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly jobs: Counter<'outcome'>;
  private readonly jobDuration: Histogram<'outcome'>;
  private readonly scraperCalls: Counter<'source' | 'outcome'>;
  private readonly scraperDuration: Histogram<'source'>;
  private readonly emitCalls: Counter;
  private readonly emitSections: Counter;
  private readonly emitEvents: Counter;

  constructor(workerId: string, queue: Queue) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ worker_id: workerId });
    collectDefaultMetrics({ register: this.registry });
    this.jobs = new Counter({ name: 'scout_worker_jobs_total', help: 'Job runs ended on this worker, by outcome.', labelNames: ['outcome'], registers });
    this.jobDuration = new Histogram({
      name: 'scout_worker_job_duration_seconds',
      help: 'Wall time of a job run on this worker, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
      registers,
    });
    this.scraperCalls = new Counter({
      name: 'scout_worker_scraper_calls_total',
      help: 'Fare-source searches, by source and outcome (ok, aborted, or the failure: rate_limited, blocked, timeout, unavailable, bad_response).',
      labelNames: ['source', 'outcome'],
      registers,
    });
    this.scraperDuration = new Histogram({
      name: 'scout_worker_scraper_duration_seconds',
      help: 'Latency of a fare-source search, by source.',
      labelNames: ['source'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.emitCalls = new Counter({ name: 'scout_worker_emit_calls_total', help: "Emit script calls this worker's event sink sent.", registers });
    this.emitSections = new Counter({ name: 'scout_worker_emit_sections_total', help: 'Jobs those calls carried (a call carries one section a job).', registers });
    this.emitEvents = new Counter({ name: 'scout_worker_emit_events_total', help: 'Events those calls carried.', registers });
    new Gauge({
      name: 'scout_worker_queue_jobs',
      help: 'Jobs in the scrape queue, by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'scout_worker_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting in the queue (0 when none waits).',
      registers,
      async collect() {
        const [oldest] = await queue.getWaiting(-1, -1);
        this.set(oldest ? Math.max(0, Date.now() - oldest.timestamp) / 1000 : 0);
      },
    });
  }

  jobEnded(outcome: JobOutcome, seconds: number): void {
    this.jobs.inc({ outcome });
    this.jobDuration.observe({ outcome }, seconds);
  }

  /** One emit script call: how many jobs (sections) and events it carried. */
  readonly emitCall = (sections: number, events: number): void => {
    this.emitCalls.inc();
    this.emitSections.inc(sections);
    this.emitEvents.inc(events);
  };

  /** The scraper, with every search counted and timed. */
  measured(scraper: Scraper): Scraper {
    const calls = this.scraperCalls;
    const duration = this.scraperDuration;
    return {
      name: scraper.name,
      async search(request) {
        const source = scraper.name;
        const stop = duration.startTimer({ source });
        try {
          const offers = await scraper.search(request);
          calls.inc({ source, outcome: 'ok' });
          return offers;
        } catch (error) {
          calls.inc({ source, outcome: request.signal.aborted ? 'aborted' : failureOf(error) });
          throw error;
        } finally {
          stop();
        }
      },
    };
  }

  /** Serves GET /metrics on its own port (0: any free port); resolves with the port. */
  async serve(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
    const server: Server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${String(error)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }
}
