/**
 * S8, Redis bytes per finished job: real jobs run by a real worker on a private Redis, then the
 * memory their streams hold once finished (MEMORY USAGE of each job's state and history, exact),
 * how long they hold it (the TTL the emit script left), and what that means at a steady job rate:
 * held bytes = bytes per job × jobs per second × seconds kept. "Before" is the old rule (a
 * finished stream kept HISTORY_RETENTION_SECONDS, 24 h), "after" the FINISHED_RETENTION_SECONDS
 * rule (1 h). BullMQ's own finished entries are shown apart: they are capped by count, not time.
 *
 * Runs alone: `npx tsx test/bench/scenarios/s8-finished-bytes.ts [jobs]`.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../../shared/config.js';
import { createDatabase } from '../../../shared/db/database.js';
import { insertPendingJob } from '../../../shared/db/jobs.repository.js';
import { migrateToLatest } from '../../../shared/db/migrate.js';
import { bullmqJobId, createScrapeQueue, enqueueScrape } from '../../../shared/queue.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import { params } from '../../helpers/jobs.js';
import { PrivateRedis } from '../../helpers/private-redis.js';
import { startService } from '../../helpers/processes.js';

export interface FinishedBytesFigures {
  jobs: number;
  eventsPerJob: number;
  /** State hash + history list of one finished job, mean, bytes. */
  streamBytesPerJob: number;
  /** BullMQ's completed entry of one job, mean, bytes (kept for the last 1,000 completed jobs). */
  queueEntryBytesPerJob: number;
  /** Seconds the stream is kept after the job ended: the TTL found right after it finished. */
  keptAfterS: number;
  keptBeforeS: number;
  /** Stream memory held at one finished job per second, MB, under each rule. */
  heldMbAt1PerSBefore: number;
  heldMbAt1PerSAfter: number;
}

const HISTORY_RETENTION_S = 24 * 3600;

export async function measureFinishedBytes(jobs: number, log: (line: string) => void): Promise<FinishedBytesFigures> {
  const server = await PrivateRedis.start();
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `scout_bench_s8_${Date.now().toString(36)}_${process.pid}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${dbName}`;
  const db = createDatabase(url.toString(), 4);
  const redis = new Redis(server.url);
  const env = {
    REDIS_URL: server.url,
    DATABASE_URL: url.toString(),
    KEY_PREFIX: 's8:',
    LOG_LEVEL: 'warn',
    SCRAPER_LATENCY_MS: '0',
    HISTORY_RETENTION_SECONDS: String(HISTORY_RETENTION_S),
  };
  const config = loadConfig(env);
  const keys = new RedisKeys(config.keyPrefix);
  const queue = createScrapeQueue(config, { url: server.url });
  const worker = await startService('worker', { ...env, LOG_LEVEL: 'info' }, { name: 's8-worker' });
  try {
    await migrateToLatest(db);
    const ids: number[] = [];
    for (let i = 0; i < jobs; i++) {
      const row = await insertPendingJob(db, params());
      await enqueueScrape(queue, row.id, row.identity);
      ids.push(row.id);
    }
    log(`S8: ${jobs} jobs queued`);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const left = await db.selectFrom('scraping_jobs').select('id').where('status', 'in', ['pending', 'running']).execute();
      if (left.length === 0) break;
      if (Date.now() > deadline) throw new Error(`S8: ${left.length} jobs still running after 120 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    let streamBytes = 0;
    let queueBytes = 0;
    let events = 0;
    let kept = Number.POSITIVE_INFINITY;
    for (const id of ids) {
      const [state, history, entry] = await Promise.all([
        redis.memory('USAGE', keys.jobState(id), 'SAMPLES', 0),
        redis.memory('USAGE', keys.jobHistory(id), 'SAMPLES', 0),
        redis.memory('USAGE', `${queue.qualifiedName}:${bullmqJobId(id)}`, 'SAMPLES', 0),
      ]);
      streamBytes += Number(state ?? 0) + Number(history ?? 0);
      queueBytes += Number(entry ?? 0);
      events += await redis.llen(keys.jobHistory(id));
      kept = Math.min(kept, await redis.ttl(keys.jobHistory(id)));
    }
    const perJob = streamBytes / jobs;
    return {
      jobs,
      eventsPerJob: events / jobs,
      streamBytesPerJob: perJob,
      queueEntryBytesPerJob: queueBytes / jobs,
      keptAfterS: kept,
      keptBeforeS: HISTORY_RETENTION_S,
      heldMbAt1PerSBefore: (perJob * HISTORY_RETENTION_S) / 1e6,
      heldMbAt1PerSAfter: (perJob * kept) / 1e6,
    };
  } finally {
    await worker.stop();
    await queue.close();
    redis.disconnect();
    await db.destroy();
    // pg's pool.end() resolves before its connections have closed; a forced drop that kills one
    // still closing makes its client throw. Let them go first (2 s at most).
    for (let i = 0; i < 40; i++) {
      const { rows } = await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [dbName]);
      if (rows[0]?.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await server.stop();
  }
}

export function renderFinishedBytes(f: FinishedBytesFigures): string[] {
  const kb = (bytes: number) => (bytes / 1024).toFixed(1);
  return [
    `${f.jobs} jobs of ${f.eventsPerJob.toFixed(0)} events each, run by one worker on a private Redis; MEMORY USAGE of each finished job's keys (exact).`,
    '',
    '| per finished job | bytes | kept after the job ended | held at 1 finished job/s |',
    '|---|---:|---:|---:|',
    `| stream (state + history), before: HISTORY_RETENTION_SECONDS | ${f.streamBytesPerJob.toFixed(0)} (${kb(f.streamBytesPerJob)} KB) | ${f.keptBeforeS} s | ${f.heldMbAt1PerSBefore.toFixed(0)} MB |`,
    `| stream (state + history), after: FINISHED_RETENTION_SECONDS | ${f.streamBytesPerJob.toFixed(0)} (${kb(f.streamBytesPerJob)} KB) | ${f.keptAfterS} s | ${f.heldMbAt1PerSAfter.toFixed(0)} MB |`,
    `| BullMQ completed entry (last 1,000 kept) | ${f.queueEntryBytesPerJob.toFixed(0)} | by count | ${((f.queueEntryBytesPerJob * 1000) / 1e6).toFixed(1)} MB at most |`,
  ];
}

if (process.argv[1]?.endsWith('s8-finished-bytes.ts')) {
  const jobs = Number(process.argv[2] ?? 50);
  const figures = await measureFinishedBytes(jobs, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${JSON.stringify(figures)}\n\n${renderFinishedBytes(figures).join('\n')}\n`);
}
