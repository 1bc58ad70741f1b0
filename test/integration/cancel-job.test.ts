import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findJob, insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { ScrapingEvent } from '../../shared/events.js';
import { bullmqJobId } from '../../shared/queue.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { AUTH_ON, createKey, postJob } from '../helpers/auth.js';
import { jobHistory, params, waitForFinishedJob } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

/** 24 searches of 300 ms, two at a time: a job that runs for about 4 s. */
const LONG_JOB = {
  origins: ['MUC', 'VIE'],
  destinations: ['BCN', 'LIS'],
  date_ranges: [['2027-03-01', '2027-03-08'], ['2027-04-01', '2027-04-08']],
  scrapers: ['sim-kiwi', 'sim-ryanair', 'sim-wizzair'],
};
const isTerminal = (e: ScrapingEvent) => e.event_type === 'job_completed' || e.event_type === 'job_failed';

describe('cancellation and the stale-running sweep (auth on, a gateway and a worker)', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let keys: RedisKeys;
  let gateway: ServiceProcess;
  let worker: ServiceProcess;
  let base: string;
  let alice: string;
  let bob: string;

  const cancel = (id: number, key: string | null) =>
    httpJson(`${base}/api/jobs/${id}/cancel`, { method: 'POST', headers: key ? { authorization: `Bearer ${key}` } : {} });
  const create = async (body: unknown = LONG_JOB) => {
    const r = await postJob(base, alice, body);
    expect(r.status).toBe(202);
    return r.body as { job_id: number; ws_url: string };
  };
  const watchers = async (wsUrl: string, n: number) => {
    const clients = Array.from({ length: n }, (_, i) => new RecordingClient(wsUrl, {}, `watcher ${i}`));
    await Promise.all(clients.map((c) => c.opened));
    return clients;
  };

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    keys = new RedisKeys(redis.keyPrefix);
    const env = serviceEnv(
      { databaseUrl: database.url, keyPrefix: redis.keyPrefix },
      {
        ...AUTH_ON,
        PORT: '0',
        SCRAPER_LATENCY_MS: '300',
        ORCHESTRATOR_CONCURRENCY: '2',
        WORKER_CONCURRENCY: '1',
        STALE_JOB_SWEEP_INTERVAL_SECONDS: '1',
        STALE_JOB_AFTER_SECONDS: '1',
        // A lock lost is noticed within a second (the sweep test deletes it under the worker).
        JOB_LOCK_DURATION_MS: '2000',
        JOB_STALLED_INTERVAL_MS: '1000',
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
      },
    );
    [gateway, worker] = await Promise.all([startService('gateway', env), startService('worker', env)]);
    base = `http://127.0.0.1:${await gatewayPort(gateway)}`;
    [alice, bob] = await Promise.all([createKey(database.url, 'alice'), createKey(database.url, 'bob')]);
  });
  afterAll(async () => {
    await Promise.all([gateway?.stop(), worker?.stop()]);
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('stops a running job within a second: no search starts after the cancel, the row is cancelled, every watcher gets one terminal event', async () => {
    const job = await create();
    const clients = await watchers(job.ws_url, 3);
    await clients[0]!.waitForEvent((e) => e.event_type === 'scraper_completed', 10_000);

    const cancelledAt = Date.now();
    const answer = await cancel(job.job_id, alice);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ job_id: job.job_id, status: 'cancelled', was: 'running' });

    for (const client of clients) {
      const end = await client.waitForEvent(isTerminal, 2_000);
      expect(end).toMatchObject({ event_type: 'job_failed', status: 'cancelled', message: 'Job cancelled' });
      expect(Date.parse(end.timestamp) - cancelledAt).toBeLessThan(1_000);
    }
    // Nothing more arrives: the worker stopped for good (its in-flight searches were aborted).
    await new Promise((r) => setTimeout(r, 700));
    for (const client of clients) {
      expect(client.events.filter(isTerminal)).toHaveLength(1);
      expect(client.events.at(-1)!.status).toBe('cancelled');
      const seqs = client.seqs;
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(client.invalid).toEqual([]);
      client.close();
    }
    const history = await jobHistory(redis.redis, keys, job.job_id);
    const terminalSeq = history.find(isTerminal)!.seq;
    expect(history.filter(isTerminal)).toHaveLength(1);
    expect(history.at(-1)!.seq).toBe(terminalSeq);
    // Seq continues with no gap up to the terminal event.
    expect(history.map((e) => e.seq)).toEqual(Array.from({ length: history.length }, (_, i) => history[0]!.seq + i));
    // No search starts once the notice is there: a margin for its delivery on a busy machine,
    // well under the 150 ms between starts of this job (300 ms searches, two at a time).
    const lateStarts = history.filter((e) => e.event_type === 'scraper_started' && Date.parse(e.timestamp) > cancelledAt + 250);
    expect(lateStarts).toEqual([]);
    expect(history.filter((e) => e.event_type === 'scraper_started').length).toBeLessThan(24);

    const row = await findJob(database.db, job.job_id);
    expect(row).toMatchObject({ status: 'cancelled', error_message: 'Job cancelled' });
    expect(row!.last_seq).toBe(terminalSeq);
    await worker.waitForLog('job cancelled; its searches stopped');
    // Counted as cancelled, not as failed.
    const ready = await worker.waitForLog('worker ready');
    const metrics = async () => (await fetch(`http://127.0.0.1:${Number(ready.metricsPort)}/metrics`)).text();
    await expect.poll(metrics).toMatch(/^scout_worker_jobs_total\{[^}]*outcome="cancelled"[^}]*\} 1$/m);
    expect(await metrics()).not.toMatch(/^scout_worker_jobs_total\{[^}]*outcome="failed"/m);
  });

  it('takes a pending job off the queue, and its watchers get the one terminal event from the gateway', async () => {
    const running = await create();
    const pending = await create();
    const [client] = await watchers(pending.ws_url, 1);
    expect(await redis.redis.exists(`${keys.bullmqPrefix}:scrape:${bullmqJobId(pending.job_id)}`)).toBe(1);

    const answer = await cancel(pending.job_id, alice);
    expect(answer.body).toEqual({ job_id: pending.job_id, status: 'cancelled', was: 'pending' });
    const end = await client!.waitForEvent(isTerminal, 2_000);
    expect(end).toMatchObject({ event_type: 'job_failed', status: 'cancelled' });
    expect(await redis.redis.exists(`${keys.bullmqPrefix}:scrape:${bullmqJobId(pending.job_id)}`)).toBe(0);
    expect(await redis.redis.lrange(`${keys.bullmqPrefix}:scrape:wait`, 0, -1)).not.toContain(bullmqJobId(pending.job_id));
    expect((await findJob(database.db, pending.job_id))!.status).toBe('cancelled');
    client!.close();
    expect((await cancel(running.job_id, alice)).status).toBe(200);
  });

  it('answers 409 to a second cancel and to a finished job, 404 to another owner, 401 without a key, and changes nothing', async () => {
    const job = await create({ ...LONG_JOB, origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-08']], scrapers: ['sim-kiwi'] });
    expect((await waitForFinishedJob(database.db, job.job_id, 15_000)).status).toBe('completed');
    // The row is written first, then job_completed, then its seq on the row: wait for all three.
    await expect.poll(async () => (await jobHistory(redis.redis, keys, job.job_id)).at(-1)?.event_type).toBe('job_completed');
    const historyBefore = await jobHistory(redis.redis, keys, job.job_id);
    await expect.poll(async () => (await findJob(database.db, job.job_id))!.last_seq).toBe(historyBefore.at(-1)!.seq);
    const finished = await findJob(database.db, job.job_id);

    const again = await cancel(job.job_id, alice);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('JOB_ALREADY_FINISHED');
    expect(await findJob(database.db, job.job_id)).toEqual(finished);
    expect(await jobHistory(redis.redis, keys, job.job_id)).toEqual(historyBefore);

    const other = await create();
    const bobs = await cancel(other.job_id, bob);
    expect(bobs.status).toBe(404);
    expect(bobs.body.error.code).toBe('JOB_NOT_FOUND');
    expect((await cancel(other.job_id, null)).status).toBe(401);
    expect((await cancel(999_999, alice)).status).toBe(404);
    expect(['pending', 'running']).toContain((await findJob(database.db, other.job_id))!.status);

    expect((await cancel(other.job_id, alice)).status).toBe(200);
    const twice = await cancel(other.job_id, alice);
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('JOB_ALREADY_FINISHED');
    const terminals = async () => (await jobHistory(redis.redis, keys, other.job_id)).filter(isTerminal).length;
    await expect.poll(terminals, { timeout: 3_000 }).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await terminals()).toBe(1);
    expect((await httpJson(`${base}/api/jobs/${other.job_id}/cancel`, { method: 'GET' })).status).toBe(405);
  });

  it('sweeps a running job whose queue entry vanished to failed, with one terminal event at its watchers', async () => {
    const job = await create();
    const [client] = await watchers(job.ws_url, 1);
    await client!.waitForEvent((e) => e.event_type === 'scraper_completed', 10_000);
    // Redis loses the job's queue entry (and its lock) under the running worker, as after a
    // restart without its data; the worker soon fails to renew its lock and stops working on it
    // ("job lock lost"), and BullMQ cannot record anything about a job it no longer has.
    const bullKeys = await redis.redis.keys(`${keys.bullmqPrefix}:scrape:${bullmqJobId(job.job_id)}*`);
    expect(bullKeys.length).toBeGreaterThan(0);
    await redis.redis.del(...bullKeys);
    await redis.redis.lrem(`${keys.bullmqPrefix}:scrape:active`, 0, bullmqJobId(job.job_id));

    const end = await client!.waitForEvent(isTerminal, 12_000);
    expect(end).toMatchObject({ event_type: 'job_failed', status: 'failed' });
    expect(end.metadata).toMatchObject({ code: 'JOB_LOST', swept: true });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(client!.events.filter(isTerminal)).toHaveLength(1);
    const row = await findJob(database.db, job.job_id);
    expect(row!.status).toBe('failed');
    expect(row!.last_seq).toBe(end.seq);
    await worker.waitForLog('job lock lost; aborting it here');
    await worker.waitForLog('stale running job ended as failed');
    client!.close();
  });

  it('sweeps a pending job whose queue entry never existed or vanished to failed, with its one terminal event', async () => {
    const row = await insertPendingJob(database.db, params());
    const ended = await waitForFinishedJob(database.db, row.id, 8_000);
    expect(ended.status).toBe('failed');
    const history = await jobHistory(redis.redis, keys, row.id);
    expect(history.map((e) => [e.event_type, e.status])).toEqual([['job_failed', 'failed']]);
    expect(history[0]!.metadata).toMatchObject({ code: 'JOB_LOST', queue_state: 'absent' });
  });
});
