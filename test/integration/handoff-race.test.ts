import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { prng, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { expectSeqs, RecordingClient } from '../helpers/ws-client.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const EVENTS = 4000;
const CLIENTS = 300;

const event = (i: number, last: boolean): EventDraft => ({
  event_type: last ? 'job_completed' : 'job_progress',
  status: last ? 'completed' : 'running',
  progress: (i / EVENTS) * 100,
  results_count: i,
  message: `event ${i}`,
  metadata: {},
  timestamp: new Date().toISOString(),
});

describe('joining and resuming while a job publishes at a high rate', () => {
  let f: GatewayFixture;

  beforeAll(async () => {
    f = await startGatewayFixture();
  });
  afterAll(() => f?.close());

  it('gives every client each event after its resume point exactly once, in order, with no gap', async () => {
    const jobId = (await insertPendingJob(f.database.db, { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-01-01', '2027-01-02']], scrapers: ['sim-kiwi'] })).id;
    const log = f.eventLog(EVENTS);
    const random = prng(42);

    // The publisher runs flat out (pipelined emits of 20) while clients join at random moments. It
    // never runs ahead of the joiners' share of the job, so every run joins all CLIENTS mid-job
    // however fast or slow the machine is.
    let published = 0;
    let acknowledged = 0;
    const clients: { client: RecordingClient; from: number; ackAtConnect: number }[] = [];
    const publisher = (async () => {
      while (published < EVENTS) {
        while (clients.length < (published / EVENTS) * CLIENTS) await new Promise((r) => setImmediate(r));
        const batch = Array.from({ length: Math.min(20, EVENTS - published) }, () => ++published);
        await Promise.all(batch.map((i) => log.append(jobId, event(i, i === EVENTS))));
        acknowledged = published;
        await new Promise((r) => setImmediate(r));
      }
    })();

    while (clients.length < CLIENTS) {
      const from = random() < 0.3 ? -1 : Math.floor(random() * acknowledged);
      const url = `ws://${f.host}/ws/scraping/${jobId}${from >= 0 ? `?last_seq=${from}` : ''}`;
      const label = `client ${clients.length} (${from >= 0 ? `resuming from ${from}` : `fresh, joined after seq ${acknowledged}`})`;
      clients.push({ client: new RecordingClient(url, {}, label), from, ackAtConnect: acknowledged });
      await new Promise((r) => setTimeout(r, random() * 2));
    }
    await publisher;

    for (const { client, from, ackAtConnect } of clients) {
      await client.waitForEvent((e) => e.seq === EVENTS, 20_000).catch((error: Error) => {
        throw new Error(`${error.message}; gateway: ${f.gateway.output()}`);
      });
      if (from >= 0) {
        // A resume within history: exactly the events after the resume point, no snapshot — but
        // for a resume at 0 of a job without events yet, served the pending job's snapshot at 0.
        const pendingSnapshot = from === 0 && client.events[0]!.seq === 0 && client.events[0]!.metadata.snapshot === true;
        if (!pendingSnapshot) expect(client.events[0]!.metadata.snapshot, client.label).toBeUndefined();
        expectSeqs(client, [...(pendingSnapshot ? [0] : []), ...range(from + 1, EVENTS)]);
      } else {
        // A fresh joiner: a snapshot at the job's seq when it joined (never older than what was
        // acknowledged before it connected; a gateway replaying history would start lower), then the rest.
        const snapshot = client.events[0]!;
        expect(snapshot.metadata.snapshot, `${client.label}: first frame ${JSON.stringify(snapshot)}`).toBe(true);
        expect(snapshot.seq, `${client.label}: snapshot seq`).toBeGreaterThanOrEqual(ackAtConnect);
        if (snapshot.status === 'completed') {
          // Joined after the last event: the ended job's snapshot is followed by its terminal
          // event at the same seq (serve-join.ts), and nothing else.
          expectSeqs(client, [EVENTS, EVENTS]);
          expect(client.events[1]!.event_type, client.label).toBe('job_completed');
        } else {
          expectSeqs(client, range(snapshot.seq, EVENTS));
        }
      }
      client.close();
    }
  });
});
