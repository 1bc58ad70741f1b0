import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft } from '../../shared/events.js';
import { prng, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { RecordingClient } from '../helpers/ws-client.js';

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

    // The publisher runs flat out (pipelined emits) while clients join at random moments.
    let published = 0;
    let acknowledged = 0;
    const publisher = (async () => {
      while (published < EVENTS) {
        const batch = Array.from({ length: Math.min(20, EVENTS - published) }, () => ++published);
        await Promise.all(batch.map((i) => log.append(jobId, event(i, i === EVENTS))));
        acknowledged = published;
        await new Promise((r) => setImmediate(r));
      }
    })();

    const clients: { client: RecordingClient; from: number }[] = [];
    while (clients.length < CLIENTS && published < EVENTS) {
      const from = random() < 0.3 ? -1 : Math.floor(random() * acknowledged);
      const url = `ws://${f.host}/ws/scraping/${jobId}${from >= 0 ? `?last_seq=${from}` : ''}`;
      clients.push({ client: new RecordingClient(url), from });
      await new Promise((r) => setTimeout(r, random() * 2));
    }
    await publisher;
    expect(clients.length).toBeGreaterThanOrEqual(200);

    for (const { client, from } of clients) {
      await client.waitForEvent((e) => e.seq === EVENTS, 20_000).catch(async (error: Error) => {
        const closed = await Promise.race([client.closed, new Promise((r) => setTimeout(() => r('still open'), 100))]);
        throw new Error(`client resuming from ${from}: ${error.message}; closed: ${JSON.stringify(closed)}; gateway: ${f.gateway.output()}`);
      });
      const seqs = client.seqs;
      const start = from >= 0 ? from + 1 : seqs[0]!;
      expect(seqs[0], `client resuming from ${from}`).toBe(from >= 0 ? from + 1 : start);
      expect(seqs).toEqual(Array.from({ length: EVENTS - start + 1 }, (_, i) => start + i));
      client.close();
    }
  });
});
