import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventDraft } from '../../shared/events.js';
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

  it('SIGKILL of a master whose replica missed the last events: a new epoch above them, and still 1..n or a resync', async () => {
    const jobId = await f.jobOnShard(() => true);
    const shard = await f.cluster.shardOf(f.keys.jobState(jobId));
    const writer = f.eventLog();
    const watchers = Array.from({ length: 4 }, (_, i) => new Watcher(`http://${gateways[i % 2]!.host}`, jobId));
    await expect.poll(() => watchers.every((w) => w.snapshots.length === 1), { timeout: 15_000 }).toBe(true);
    for (let seq = 1; seq <= 5; seq++) await writer.append(jobId, step(seq, false));
    await expect.poll(() => watchers.every((w) => w.seqs.length === 5), { timeout: 10_000 }).toBe(true);

    // Freeze the replica and cut it off, write 6..10 on the master alone, kill the master, thaw
    // the replica: the replica that takes over never had 6..10, which the clients have seen.
    const replica = shard.replicas[0]!;
    const master = new Redis(shard.master, '127.0.0.1');
    const first = (await writer.read(jobId)).state!.epoch;
    f.cluster.freeze(replica, true);
    try {
      await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
      for (let seq = 6; seq <= 10; seq++) await writer.append(jobId, step(seq, false));
      await f.cluster.kill(shard.master);
    } finally {
      f.cluster.freeze(replica, false);
      master.disconnect();
    }
    // 6..10 were published before the kill, but pub/sub is at-most-once: a client that missed
    // some (Redis killed between its writes) is judged like the others, by the end.
    const deadline = Date.now() + 3000;
    while (watchers.some((w) => w.seqs.length < 10) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // One client is away during the failover: it comes back asking for what follows its last seq.
    watchers[0]!.openSocket?.terminate();
    await f.cluster.waitForNewMaster(f.keys.jobState(jobId), shard.master);
    const { state: promoted } = await writer.read(jobId);
    expect(promoted!.seq, 'the promoted replica lacks the tail').toBeLessThan(10);

    // The writer knows it was given seq 10 (the worker's sink passes that floor on every emit).
    const next = await writer.append(jobId, step(11, true), 10);
    expect(next.seq).toBe(11);
    expect(next.epoch).not.toBe(first);
    await Promise.race([
      Promise.all(watchers.map((w) => w.stream.finished())),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a client hangs after the failover')), 30_000)),
    ]);
    for (const [i, w] of watchers.entries()) {
      expect(w.seqs, `watcher ${i}`).toEqual([...new Set(w.seqs)].sort((x, y) => x - y));
      if (w.closeCodes.includes(CLOSE_CODES.RESYNC) || w.snapshots.some((s) => s.metadata.resync === true)) {
        // Resynced to the promoted state (seq 5), the next event it sees is 11 of the new epoch:
        // the client notes the jump and resumes once more, which serves it the new epoch.
        expect(w.errors.every((e) => e.startsWith('SEQ_GAP')), `watcher ${i}: ${w.errors.join('; ')}`).toBe(true);
        expect(w.stream.lastSeq, `watcher ${i}`).toBe(11);
      } else {
        expect(w.errors, `watcher ${i}`).toEqual([]);
        expect(w.seqs, `watcher ${i}`).toEqual(oneToN(11));
      }
    }
    // The client that was away resumed after seqs the promoted stream never had: resync.
    expect(watchers[0]!.snapshots.some((s) => s.metadata.resync === true)).toBe(true);
  });
});

function step(seq: number, last: boolean): EventDraft {
  return {
    event_type: last ? 'job_completed' : 'job_progress',
    status: last ? 'completed' : 'running',
    progress: last ? 100 : seq * 5,
    results_count: seq,
    message: `step ${seq}`,
    metadata: {},
    timestamp: new Date().toISOString(),
  };
}
