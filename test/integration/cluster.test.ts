import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { startClusterFixture, type ClusterFixture } from '../helpers/cluster-fixture.js';
import { prng } from '../helpers/gateway-fixture.js';
import { oneToN, params, waitForFinishedJob } from '../helpers/jobs.js';
import { Watcher } from '../helpers/watchers.js';

/** Everything on a local Redis Cluster of 3 masters + 3 replicas: two gateways and a worker. */
describe('on a Redis Cluster (3 masters + 3 replicas)', () => {
  let f: ClusterFixture;
  let a: { host: string };
  let b: { host: string };

  beforeAll(async () => {
    f = await startClusterFixture({ SCRAPER_LATENCY_MS: '20' });
    [a, b] = await Promise.all([f.startGateway('cluster-gw-a'), f.startGateway('cluster-gw-b'), f.startWorker('cluster-worker')]);
  }, 90_000);
  afterAll(() => f?.close());

  it('runs a job end to end: enqueued over HTTP, every client on either gateway gets exactly 1..n', async () => {
    const created = await fetch(`http://${a.host}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params()),
    });
    expect(created.status).toBe(202);
    const { job_id: jobId } = (await created.json()) as { job_id: number };
    const watchers = [a, b, a, b].map((g) => new Watcher(`http://${g.host}`, jobId));
    const row = await waitForFinishedJob(f.database.db, jobId);
    expect(row.status).toBe('completed');
    const ends = await Promise.all(watchers.map((w) => w.stream.finished()));
    const { state } = await f.eventLog().read(jobId);
    expect(state).toMatchObject({ status: 'completed' });
    for (const [i, w] of watchers.entries()) {
      expect(ends[i]?.status).toBe('completed');
      // A watcher that joined after some events got them in its snapshot: the rest in order, once
      // (one that joined after the end gets the terminal event at the snapshot's seq).
      const snapshot = w.snapshots[0]!;
      const expected = snapshot.status === 'completed' ? [snapshot.seq] : oneToN(state!.seq).slice(snapshot.seq);
      expect(w.seqs, `watcher ${i}`).toEqual(expected);
      expect(w.stream.duplicatesDropped).toBe(0);
      expect(w.errors).toEqual([]);
    }
    // Every event of the job stayed in its shard: the queue's keys and the job's keys each in one slot.
    expect((await f.redis.lrange(f.keys.jobHistory(jobId), 0, -1)).length).toBe(state!.seq);
  });

  it("sends a gateway's SSUBSCRIBEs only to the shards of the jobs it serves", async () => {
    const shards = (await f.cluster.topology()).map((s) => s.master);
    // One job on each of two different shards; gateway a serves the first, b the second.
    const onFirst = await f.jobOnShard((m) => m === shards[0]);
    const onSecond = await f.jobOnShard((m) => m === shards[1]);
    const log = f.eventLog();
    await log.append(onFirst, draft(1, false));
    await log.append(onSecond, draft(1, false));
    const wa = new Watcher(`http://${a.host}`, onFirst);
    const wb = new Watcher(`http://${b.host}`, onSecond);
    await expect.poll(() => wa.snapshots.length + wb.snapshots.length).toBe(2);

    const channels = [f.keys.jobChannel(onFirst), f.keys.jobChannel(onSecond)];
    const counts = await f.cluster.shardNumSub(channels);
    for (const [port, perChannel] of counts) {
      expect(perChannel.get(channels[0]!), `node ${port}, job on shard ${shards[0]}`).toBe(port === shards[0] ? 1 : 0);
      expect(perChannel.get(channels[1]!), `node ${port}, job on shard ${shards[1]}`).toBe(port === shards[1] ? 1 : 0);
    }
    // And events do arrive over them.
    await log.append(onFirst, draft(2, true));
    await log.append(onSecond, draft(2, true));
    await Promise.all([wa.stream.finished(), wb.stream.finished()]);
    expect([wa.seqs, wb.seqs]).toEqual([[2], [2]]);
    // The last client of a job gone, its shard channel is released.
    await expect.poll(async () => [...(await f.cluster.shardNumSub(channels)).values()].every((m) => [...m.values()].every((n) => n === 0)), { timeout: 10_000 }).toBe(true);
  });

  it('ends with every client holding exactly 1..n while clients drop and resume at random, on two gateways', async () => {
    const EVENTS = 1000;
    const WATCHERS = 30;
    const jobId = (await insertPendingJob(f.database.db, params())).id;
    const log = f.eventLog(EVENTS);
    const random = prng(11);
    const watchers = Array.from({ length: WATCHERS }, (_, i) => new Watcher(`http://${(i % 2 ? a : b).host}`, jobId));
    await expect.poll(() => watchers.every((w) => w.snapshots.length === 1), { timeout: 15_000 }).toBe(true);
    let cuts = 0;
    let publishing = true;
    const cutter = (async () => {
      while (publishing) {
        await new Promise((r) => setTimeout(r, random() * 10));
        const socket = watchers[Math.floor(random() * WATCHERS)]!.openSocket;
        if (!socket) continue;
        if (random() < 0.5) socket.terminate();
        else socket.close(4000, 'test cut');
        cuts += 1;
      }
    })();
    for (let i = 1; i <= EVENTS; i += 10) {
      const batch = Array.from({ length: Math.min(10, EVENTS - i + 1) }, (_, k) => i + k);
      await Promise.all(batch.map((seq) => log.append(jobId, draft(seq, seq === EVENTS, EVENTS))));
      await new Promise((r) => setTimeout(r, 5));
    }
    publishing = false;
    await cutter;
    await Promise.all(watchers.map((w) => w.stream.finished()));
    expect(cuts).toBeGreaterThanOrEqual(30);
    for (const [i, w] of watchers.entries()) {
      expect(w.seqs, `watcher ${i} after ${w.sockets.length - 1} cuts`).toEqual(oneToN(EVENTS));
      expect(w.stream.duplicatesDropped).toBe(0);
      expect(w.errors).toEqual([]);
    }
  });
});

function draft(seq: number, last: boolean, total = 2): EventDraft {
  return {
    event_type: last ? 'job_completed' : 'job_progress',
    status: last ? 'completed' : 'running',
    progress: Math.min(100, (seq / total) * 100),
    results_count: seq,
    message: `step ${seq}`,
    metadata: {},
    timestamp: new Date().toISOString(),
  };
}
