import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { oneToN, params } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { Watcher } from '../helpers/watchers.js';

const EVENTS = 3000;
const WATCHERS = 100;
const MIN_CUTS = 150;

/** Deterministic pseudo-random numbers, so a failure can be replayed with the same seed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

describe('clients dropping and resuming at random moments', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateway: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    gateway = await startService('gateway', serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: '0' }));
    base = `http://127.0.0.1:${await gatewayPort(gateway)}`;
  });
  afterAll(async () => {
    await gateway?.stop();
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('ends with every client holding exactly 1..n of a job that emits thousands of events', async () => {
    const jobId = (await insertPendingJob(database.db, params())).id;
    const log = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: EVENTS, retentionSeconds: 600 });
    const random = prng(7);
    const watchers = Array.from({ length: WATCHERS }, () => new Watcher(base, jobId));
    await expect.poll(() => watchers.every((w) => w.snapshots.length === 1), { timeout: 15_000 }).toBe(true);

    let cuts = 0;
    let publishing = true;
    const cutter = (async () => {
      while (publishing) {
        await new Promise((r) => setTimeout(r, random() * 10));
        // An abrupt loss (TCP reset) or a clean close by the network: both must be survived.
        const socket = watchers[Math.floor(random() * WATCHERS)]!.openSocket;
        if (!socket) continue;
        if (random() < 0.5) socket.terminate();
        else socket.close(4000, 'test cut');
        cuts += 1;
      }
    })();

    for (let i = 1; i <= EVENTS; i += 10) {
      const batch = Array.from({ length: Math.min(10, EVENTS - i + 1) }, (_, k) => i + k);
      await Promise.all(batch.map((seq) => log.append(jobId, draft(seq, seq === EVENTS))));
      await new Promise((r) => setTimeout(r, 5));
    }
    publishing = false;
    await cutter;

    await Promise.all(watchers.map((w) => w.stream.finished()));
    expect(cuts).toBeGreaterThanOrEqual(MIN_CUTS);
    for (const [i, w] of watchers.entries()) {
      expect(w.seqs, `watcher ${i} after ${w.sockets.length - 1} cuts`).toEqual(oneToN(EVENTS));
      expect(w.stream.duplicatesDropped).toBe(0);
      expect(w.errors).toEqual([]);
    }
    // Nearly every cut was followed by a reconnect and resume (a cut after the job's end is not).
    expect(watchers.reduce((sum, w) => sum + w.sockets.length - 1, 0)).toBeGreaterThanOrEqual(MIN_CUTS);
  });
});

function draft(seq: number, last: boolean): EventDraft {
  return {
    event_type: last ? 'job_completed' : 'job_progress',
    status: last ? 'completed' : 'running',
    progress: (seq / EVENTS) * 100,
    results_count: seq,
    message: `step ${seq}`,
    metadata: {},
    timestamp: new Date().toISOString(),
  };
}
