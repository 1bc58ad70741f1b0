import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { createDatabase } from '../../../shared/db/database.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import { ServiceProcess } from '../../helpers/processes.js';
import type { BenchContext } from '../harness.js';
import { load1 } from '../harness.js';
import { cpuSeconds, sumCpuSeconds } from '../lib/proc.js';
import { entryArgs, ROOT, SYSTEMS, type ServerGroup } from '../systems.js';
import { withSystem } from './with-system.js';
import { createApiKey } from '../../../shared/db/api-keys.repository.js';
import { freePort } from '../../helpers/ports.js';

export interface PipelineFigures {
  /** How long each simulated search took. */
  scraperLatencyMs: number;
  jobs: number;
  workers: number;
  completed: number;
  failed: number;
  elapsedS: number;
  jobsPerS: number;
  events: number;
  eventsPerS: number;
  flights: number;
  enqueueS: number;
  /** Per job, from the row's created_at: queue wait until started_at, run until completed_at. */
  queueWaitMs: { p50: number; max: number };
  runMs: { p50: number; max: number };
  /** The workers' emit script calls (their metrics), and the jobs and events those carried. */
  emits: { calls: number; sections: number; events: number } | null;
  /** CPU seconds while the jobs ran, per part. */
  cpuS: { workers: number; gateway: number; redis: number; postgres: number };
  loadAvg1: number;
  notes: string[];
}

const WORKER_ENTRY = 'worker/main.ts';

/** The emit counters of every worker's /metrics, summed (null when one could not be read). */
async function emitCounts(ports: number[], notes: string[]): Promise<PipelineFigures['emits']> {
  const sum = { calls: 0, sections: 0, events: 0 };
  for (const port of ports) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      sum.calls += value('scout_worker_emit_calls_total');
      sum.sections += value('scout_worker_emit_sections_total');
      sum.events += value('scout_worker_emit_events_total');
    } catch (error) {
      notes.push(`worker metrics on port ${port} unreadable: ${String(error)}`);
      return null;
    }
  }
  return Number.isFinite(sum.calls + sum.sections + sum.events) ? sum : null;
}

/** SCRAPER_LATENCY_MS in the bench's environment (default 0 here): scrapers that take time, as real sources do. */
export function s5ScraperLatencyMs(): number {
  return Number(process.env.SCRAPER_LATENCY_MS ?? 0);
}

export function pipelineAvailable(): boolean {
  return existsSync(join(ROOT, WORKER_ENTRY));
}

/**
 * S5 pipeline: jobs enqueued over HTTP (POST /api/jobs) on the gateway, run by two worker
 * processes with the simulated scrapers at zero latency; jobs completed per second, events
 * emitted per second, and where the CPU went (workers, gateway, Redis, Postgres backends).
 */
export async function runS5(ctx: BenchContext): Promise<PipelineFigures> {
  const { s5 } = ctx.sizes;
  const loadAvg1 = load1();
  // EMIT_PIPELINE=false in the bench's environment measures the workers without pipelined emits.
  const scraperLatencyMs = s5ScraperLatencyMs();
  const extraEnv = { SCRAPER_LATENCY_MS: String(scraperLatencyMs), JOB_BACKOFF_MS: '100', ...(process.env.EMIT_PIPELINE ? { EMIT_PIPELINE: process.env.EMIT_PIPELINE } : {}) };
  const figures = await withSystem(ctx, SYSTEMS.gateway, {}, ({ servers }) => pipeline(ctx, servers, extraEnv, loadAvg1));
  return { ...figures, scraperLatencyMs };
}

async function pipeline(ctx: BenchContext, gateway: ServerGroup, extraEnv: Record<string, string>, loadAvg1: number): Promise<Omit<PipelineFigures, 'scraperLatencyMs'>> {
  const { s5 } = ctx.sizes;
  const workers: ServiceProcess[] = [];
  const metricsPorts: number[] = [];
  const db = createDatabase(ctx.serverEnv.databaseUrl, 2);
  const redis = new Redis(ctx.redisUrl);
  try {
    for (let i = 0; i < s5.workers; i++) {
      metricsPorts.push(await freePort());
      const child = spawn(
        process.execPath,
        [...(ctx.serverEnv.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.serverEnv.profileDir, `worker-${i}-${Date.now()}`)}`] : []), ...entryArgs(ctx.serverEnv.buildDir, WORKER_ENTRY)],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '/tmp',
            REDIS_URL: ctx.serverEnv.redisUrl,
            DATABASE_URL: ctx.serverEnv.databaseUrl,
            KEY_PREFIX: ctx.serverEnv.keyPrefix,
            LOG_LEVEL: 'info',
            METRICS_PORT: String(metricsPorts[i]),
            ...extraEnv,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const worker = new ServiceProcess(`worker-${i}`, child);
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.waitForLog('worker ready', 60_000)));

    const { databaseName } = (await sql<{ databaseName: string }>`select current_database() as "databaseName"`.execute(db)).rows[0]!;
    const pgPids = async () =>
      (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = ${databaseName} and pid <> pg_backend_pid()`.execute(db)).rows.map((r) => r.pid);

    const url = `http://127.0.0.1:${gateway.ports[0]}/api/jobs`;
    const depart = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    const back = new Date(Date.now() + 37 * 86_400_000).toISOString().slice(0, 10);
    const body = JSON.stringify({ origins: ['MUC'], destinations: ['BCN', 'LIS'], date_ranges: [[depart, back]] });
    // Access control on: the jobs are enqueued with an API key of their own.
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (ctx.serverEnv.extraEnv?.AUTH_ENABLED === 'true') headers.authorization = `Bearer ${(await createApiKey(db, `bench-s5-${Date.now()}`)).key}`;

    const pgBefore = new Map((await pgPids()).map((pid) => [pid, cpuSeconds(pid)]));
    const cpu0 = {
      workers: sumCpuSeconds(workers.map((w) => w.pid)),
      gateway: gateway.cpuSeconds(),
      redis: ctx.redisPid ? cpuSeconds(ctx.redisPid) : 0,
    };
    const started = Date.now();
    const ids: number[] = [];
    const notes: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(16, s5.jobs) }, async () => {
        while (next < s5.jobs) {
          next += 1;
          const res = await fetch(url, { method: 'POST', headers, body });
          const json = (await res.json()) as { job_id?: number };
          if (res.status === 202 && typeof json.job_id === 'number') ids.push(json.job_id);
          else notes.push(`POST /api/jobs answered ${res.status}`);
        }
      }),
    );
    const enqueueS = (Date.now() - started) / 1000;

    let finished = { completed: 0, failed: 0, lastDone: started };
    while (Date.now() - started < s5.maxMs) {
      const row = (
        await sql<{ completed: string; failed: string; last_done: Date | null }>`
          select count(*) filter (where status = 'completed') as completed,
                 count(*) filter (where status = 'failed') as failed,
                 max(completed_at) as last_done
          from scraping_jobs`.execute(db)
      ).rows[0]!;
      finished = { completed: Number(row.completed), failed: Number(row.failed), lastDone: row.last_done?.getTime() ?? started };
      if (finished.completed + finished.failed >= ids.length) break;
      await sleep(100);
    }
    const emits = await emitCounts(metricsPorts, notes);
    const pgAfter = await pgPids();
    const cpuS = {
      workers: sumCpuSeconds(workers.map((w) => w.pid)) - cpu0.workers,
      gateway: gateway.cpuSeconds() - cpu0.gateway,
      redis: (ctx.redisPid ? cpuSeconds(ctx.redisPid) : 0) - cpu0.redis,
      // Backends of the bench database (the pools keep theirs open; one that came and went is missed).
      postgres: pgAfter.reduce((a, pid) => a + cpuSeconds(pid) - (pgBefore.get(pid) ?? 0), 0),
    };
    if (finished.completed + finished.failed < ids.length) notes.push(`only ${finished.completed + finished.failed} of ${ids.length} jobs finished within ${s5.maxMs / 1000} s`);
    const elapsedS = Math.max(0.001, (finished.lastDone - started) / 1000);

    const keys = new RedisKeys(ctx.serverEnv.keyPrefix);
    const seqs = await Promise.all(ids.map((id) => redis.hget(keys.jobState(id), 'seq')));
    const events = seqs.reduce((a, s) => a + Number(s ?? 0), 0);
    const timing = (
      await sql<{ wait_ms: number; run_ms: number }>`
        select extract(epoch from (started_at - created_at)) * 1000 as wait_ms,
               extract(epoch from (completed_at - started_at)) * 1000 as run_ms
        from scraping_jobs where completed_at is not null`.execute(db)
    ).rows;
    const flights = Number((await sql<{ n: string }>`select count(*) as n from flights`.execute(db)).rows[0]!.n);
    const stat = (xs: number[]) => {
      const sorted = xs.map(Number).sort((a, b) => a - b);
      return { p50: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN };
    };
    return {
      jobs: ids.length,
      workers: s5.workers,
      completed: finished.completed,
      failed: finished.failed,
      elapsedS,
      jobsPerS: (finished.completed + finished.failed) / elapsedS,
      events,
      eventsPerS: events / elapsedS,
      flights,
      enqueueS,
      queueWaitMs: stat(timing.map((t) => t.wait_ms)),
      runMs: stat(timing.map((t) => t.run_ms)),
      emits,
      cpuS,
      loadAvg1,
      notes,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop('SIGTERM', 20_000)));
    await db.destroy();
    redis.disconnect();
  }
}
