/**
 * The publisher process: emits job events through the project's real emit path
 * (JobEventLog.append → the emit-event Lua script: seq, history, live state, PUBLISH), at a fixed
 * rate, each carrying its emit moment in metadata.emitted_at_us (host monotonic clock). For the
 * Socket.IO peer, each appended event is also emitted to the job's room with @socket.io/redis-emitter.
 */
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import type { EventDraft } from '../../../shared/events.js';
import { JobEventLog } from '../../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import { monoUs } from '../lib/clock.js';
import type { PublisherCommand, PublisherReply, RunResult } from './messages.js';

const MAX_IN_FLIGHT = 2000;
const SCRAPERS = ['sim-kiwi', 'sim-skyscanner', 'sim-ryanair', 'sim-wizzair'];
const ROUTES = ['MUC-BCN', 'MUC-LIS', 'VIE-BCN', 'VIE-LIS', 'PRG-OPO'];

let redis: Redis | null = null;
let log: JobEventLog | null = null;
let emitter: Emitter | null = null;
const seqs: number[] = [];
let counter = 0;

function draft(type: 'job_started' | 'job_progress'): EventDraft {
  const k = counter++;
  const scraper = SCRAPERS[k % SCRAPERS.length]!;
  const route = ROUTES[k % ROUTES.length]!;
  return {
    event_type: type,
    status: 'running',
    progress: type === 'job_started' ? 0 : k % 100,
    results_count: k % 5000,
    message: type === 'job_started' ? 'Scraping job started' : `Searching ${route} on ${scraper}: ${k % 100}% of tasks done`,
    // emitted_at_us first: the load client finds it right after the epoch the script puts before it.
    metadata: { emitted_at_us: Math.round(monoUs()), scraper, route, task: k },
    timestamp: new Date().toISOString(),
  };
}

function emit(job: number, type: 'job_started' | 'job_progress'): Promise<void> {
  const d = draft(type);
  return log!.append(job, d).then(({ seq, epoch }) => {
    if (seq > (seqs[job] ?? 0)) seqs[job] = seq;
    emitter?.to(`job:${job}`).emit('event', {
      job_id: job,
      seq,
      event_type: d.event_type,
      status: d.status,
      progress: d.progress,
      results_count: d.results_count,
      message: d.message,
      metadata: { epoch, ...d.metadata },
      timestamp: d.timestamp,
    });
  });
}

interface ActiveRun {
  stopped: boolean;
  done: Promise<Omit<RunResult, 'id' | 'type' | 'seqs'>>;
}
let active: ActiveRun | null = null;

function startRun(first: number, last: number, rate: number, count: number, maxMs: number): ActiveRun {
  const run: ActiveRun = { stopped: false, done: undefined as never };
  run.done = new Promise((resolve) => {
    const jobs = last - first + 1;
    const started = monoUs();
    let sent = 0;
    let settled = 0;
    let failed = 0;
    let maxLagMs = 0;
    let finishing = false;
    const finish = () => {
      if (settled === sent) resolve({ published: sent - failed, failed, elapsedMs: (monoUs() - started) / 1000, maxLagMs });
    };
    const onSettled = () => {
      settled += 1;
      if (finishing) finish();
    };
    const onFailed = () => {
      failed += 1;
    };
    const tick = () => {
      const elapsedUs = monoUs() - started;
      if (run.stopped || sent >= count || elapsedUs > maxMs * 1000) {
        finishing = true;
        finish();
        return;
      }
      const due = Math.min(count, Math.floor((elapsedUs / 1e6) * rate) + 1);
      if (due > sent + 1) maxLagMs = Math.max(maxLagMs, ((due - sent - 1) / rate) * 1000);
      while (sent < due && sent - settled < MAX_IN_FLIGHT) {
        const job = first + (sent % jobs);
        sent += 1;
        emit(job, 'job_progress').catch(onFailed).finally(onSettled);
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  return run;
}

function send(reply: PublisherReply): void {
  process.send!(reply);
}

process.on('message', (command: PublisherCommand) => {
  void handle(command).catch((error: unknown) => {
    process.stderr.write(`publisher: ${command.type} failed: ${String(error)}\n`);
    process.exit(1);
  });
});

async function handle(command: PublisherCommand): Promise<void> {
  switch (command.type) {
    case 'init': {
      redis = new Redis(command.redisUrl, { maxRetriesPerRequest: 3 });
      log = new JobEventLog(redis, new RedisKeys(command.keyPrefix), { maxEvents: command.maxEvents, retentionSeconds: 3600 });
      if (command.socketIoKey) emitter = new Emitter(redis.duplicate(), { key: command.socketIoKey });
      await redis.ping();
      send({ type: 'ack', id: command.id });
      break;
    }
    case 'create-jobs': {
      const all: Promise<void>[] = [];
      for (let job = command.first; job <= command.last; job++) {
        all.push(emit(job, 'job_started'));
        if (all.length >= 500) await Promise.all(all.splice(0));
      }
      await Promise.all(all);
      send({ type: 'ack', id: command.id });
      break;
    }
    case 'run': {
      const run = startRun(command.first, command.last, command.rate, command.count, command.maxMs);
      active = run;
      if (command.background) {
        send({ type: 'ack', id: command.id });
        return;
      }
      const result = await run.done;
      active = null;
      send({ type: 'run', id: command.id, ...result, seqs });
      break;
    }
    case 'stop': {
      const run = active;
      if (!run) throw new Error('stop without a background run');
      run.stopped = true;
      const result = await run.done;
      active = null;
      send({ type: 'run', id: command.id, ...result, seqs });
      break;
    }
    case 'seqs':
      send({ type: 'seqs', id: command.id, seqs });
      break;
    case 'exit':
      redis?.disconnect();
      (emitter?.redisClient as Redis | undefined)?.disconnect();
      process.exit(0);
  }
}

process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
