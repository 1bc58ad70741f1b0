import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../shared/protocol.js';
import { startClusterFixture, type ClusterFixture } from '../helpers/cluster-fixture.js';
import { oneToN, waitForFinishedJob } from '../helpers/jobs.js';
import { Watcher } from '../helpers/watchers.js';

/**
 * The master holding a job's shard fails over while the job runs: every client ends with every
 * event exactly once, or, when the promoted replica lacked the tail, with a resync followed by
 * the job's state. Nothing hangs, nothing is delivered twice.
 */
describe('failover of the master holding a running job', () => {
  let f: ClusterFixture;
  let gateways: { host: string }[];

  beforeAll(async () => {
    // One task at a time, 400 ms each: a job of 8 tasks runs for over 3 s, time to fail over.
    f = await startClusterFixture({ SCRAPER_LATENCY_MS: '400', ORCHESTRATOR_CONCURRENCY: '1' });
    const [a, b] = await Promise.all([f.startGateway('failover-gw-a'), f.startGateway('failover-gw-b'), f.startWorker('failover-worker')]);
    gateways = [a, b];
  }, 90_000);
  afterAll(() => f?.close());

  async function runThrough(failover: (shard: { master: number; replicas: number[] }) => Promise<void>) {
    // The job's shard is not the queue's: what fails over is the job's stream, not BullMQ.
    const queueShard = (await f.cluster.shardOf(`${f.keys.bullmqPrefix}:scrape:wait`)).master;
    const jobId = await f.jobOnShard((m) => m !== queueShard);
    const shard = await f.cluster.shardOf(f.keys.jobState(jobId));
    const watchers = Array.from({ length: 6 }, (_, i) => new Watcher(`http://${gateways[i % 2]!.host}`, jobId));
    await expect.poll(() => watchers.every((w) => w.snapshots.length === 1), { timeout: 15_000 }).toBe(true);
    await f.enqueue(jobId);
    await expect.poll(() => Math.min(...watchers.map((w) => w.seqs.length)), { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    const before = Math.max(...watchers.map((w) => w.seqs.at(-1) ?? 0));
    await failover(shard);
    // The new master serves the job's slot: events after this point went through it.
    const newMaster = await f.cluster.waitForNewMaster(f.keys.jobState(jobId), shard.master);
    const atNewMaster = Math.max(...watchers.map((w) => w.seqs.at(-1) ?? 0));

    const row = await waitForFinishedJob(f.database.db, jobId, 45_000);
    expect(row.status).toBe('completed');
    const ends = await Promise.race([
      Promise.all(watchers.map((w) => w.stream.finished())),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a client hangs after the failover')), 30_000)),
    ]);
    const { state } = await f.eventLog().read(jobId);
    expect(state).toMatchObject({ status: 'completed' });
    let resynced = 0;
    for (const [i, w] of watchers.entries()) {
      expect(ends[i]?.status, `watcher ${i}`).toBe('completed');
      expect(w.errors, `watcher ${i}`).toEqual([]);
      // Nothing twice, nothing out of order.
      expect(w.seqs, `watcher ${i}`).toEqual([...new Set(w.seqs)].sort((x, y) => x - y));
      if (w.closeCodes.includes(CLOSE_CODES.RESYNC)) {
        // Told to resync, then served the job's state: it ends on the job's last seq.
        resynced += 1;
        expect(w.snapshots.some((s) => s.metadata.resync === true), `watcher ${i}`).toBe(true);
        expect(w.stream.lastSeq, `watcher ${i}`).toBe(state!.seq);
      } else {
        expect(w.seqs, `watcher ${i}`).toEqual(oneToN(state!.seq));
        expect(w.stream.duplicatesDropped, `watcher ${i}`).toBe(0);
      }
    }
    // The failover happened mid-job: events before it, and events emitted after the new master took over.
    expect(before).toBeGreaterThanOrEqual(3);
    expect(state!.seq).toBeGreaterThan(atNewMaster);
    expect(newMaster).not.toBe(shard.master);
    return { shard, resynced, seq: state!.seq };
  }

  it('CLUSTER FAILOVER on its replica: every client gets 1..n exactly once', async () => {
    const { shard, resynced } = await runThrough(async ({ replicas }) => {
      expect(replicas).toHaveLength(1);
      await f.cluster.failover(replicas[0]!);
    });
    // A graceful failover loses nothing: nobody needed a resync, and the replica took over.
    expect(resynced).toBe(0);
    expect((await f.cluster.topology()).some((s) => s.master === shard.replicas[0])).toBe(true);
  });

  it('SIGKILL of the master: every client gets 1..n exactly once, or a resync and then the job state', async () => {
    const { shard } = await runThrough(async ({ master }) => {
      await f.cluster.kill(master);
    });
    expect((await f.cluster.topology()).some((s) => s.master === shard.master)).toBe(false);
  });
});
