import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { oneToN, params } from '../helpers/jobs.js';
import { prng, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { Watcher } from '../helpers/watchers.js';

const EVENTS = 3000;
const WATCHERS = 100;
const MIN_CUTS = 150;

describe('clients dropping and resuming at random moments', () => {
  let f: GatewayFixture;

  beforeAll(async () => {
    f = await startGatewayFixture();
  });
  afterAll(() => f?.close());

  it('ends with every client holding exactly 1..n of a job that emits thousands of events', async () => {
    const jobId = (await insertPendingJob(f.database.db, params())).id;
    const log = f.eventLog(EVENTS);
    const random = prng(7);
    const watchers = Array.from({ length: WATCHERS }, () => new Watcher(`http://${f.host}`, jobId));
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
      // The cuts keep pace with the events: a fast publisher (or a slow cutter on a busy machine)
      // must not end the job before the cuts were spread over it.
      const due = Math.ceil((i / EVENTS) * MIN_CUTS);
      for (const deadline = Date.now() + 2_000; cuts < due && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 5));
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
    // Nearly every cut was followed by a reconnect and resume (a cut after the job's end is not,
    // nor one that hit a socket already closing).
    expect(watchers.reduce((sum, w) => sum + w.sockets.length - 1, 0)).toBeGreaterThanOrEqual(Math.floor(MIN_CUTS * 0.9));
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
