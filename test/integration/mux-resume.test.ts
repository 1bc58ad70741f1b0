import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import type { EventDraft, EventType } from '../../shared/events.js';
import { prng, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { oneToN, params } from '../helpers/jobs.js';
import { MuxTestClient } from '../helpers/mux-client.js';
import { MuxWatcher } from '../helpers/mux-watchers.js';

const EVENTS = 1500;
const HANDOFF_EVENTS = 4000;
const typeOf = (seq: number, last = EVENTS): EventType => (seq === last ? 'job_completed' : seq % 10 === 0 ? 'scraper_completed' : 'job_progress');
const draft = (seq: number, last = EVENTS): EventDraft => ({
  event_type: typeOf(seq, last),
  status: seq === last ? 'completed' : 'running',
  progress: (seq / last) * 100,
  results_count: seq,
  message: `step ${seq}`,
  metadata: {},
  timestamp: new Date().toISOString(),
});

describe('multiplexed clients: resume and hand-off', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    f = await startGatewayFixture();
  });
  afterAll(() => f?.close());
  const newJob = async () => (await insertPendingJob(f.database.db, params())).id;

  it('ScoutClients cut at random moments resume every job exactly where it was (plain, filtered, MessagePack)', async () => {
    const [plain, filtered, late] = [await newJob(), await newJob(), await newJob()];
    const log = f.eventLog(EVENTS);
    const random = prng(11);
    // The third job already has half its events: watchers resume it from the middle.
    for (let seq = 1; seq <= EVENTS / 2; seq++) await log.append(late, draft(seq));
    const watchers = Array.from({ length: 30 }, (_, i) => new MuxWatcher(`http://${f.host}`, { msgpack: i % 3 === 0 }));
    for (const w of watchers) {
      w.watch(plain);
      w.watch(filtered, { eventTypes: ['scraper_completed', 'job_completed'] });
      w.watch(late, { resumeFrom: { lastSeq: EVENTS / 4, epoch: null } });
    }
    await expect.poll(() => watchers.every((w) => w.started.has(plain) && w.started.has(filtered) && w.started.has(late)), { timeout: 10_000 }).toBe(true);

    let cuts = 0;
    let publishing = true;
    const cutter = (async () => {
      while (publishing) {
        await new Promise((r) => setTimeout(r, random() * 15));
        const socket = watchers[Math.floor(random() * watchers.length)]!.openSocket;
        if (!socket) continue;
        if (random() < 0.5) socket.terminate();
        else socket.close(4000, 'test cut');
        cuts += 1;
      }
    })();
    for (let seq = 1; seq <= EVENTS; seq += 10) {
      // Publishing keeps pace with the cuts (about 55 over the job), so that on a fast machine too
      // the clients are cut throughout the job rather than publishing outrunning the cutter.
      while (cuts < Math.floor((seq / EVENTS) * 55)) await new Promise((r) => setTimeout(r, 2));
      const batch = oneToN(10).map((k) => seq + k - 1);
      await Promise.all(batch.flatMap((s) => [log.append(plain, draft(s)), log.append(filtered, draft(s)), ...(s > EVENTS / 2 ? [log.append(late, draft(s))] : [])]));
      await new Promise((r) => setTimeout(r, 5));
    }
    publishing = false;
    await cutter;
    await expect.poll(() => watchers.every((w) => w.ended.size === 3), { timeout: 20_000 }).toBe(true);
    expect(cuts).toBeGreaterThanOrEqual(50);
    for (const [i, w] of watchers.entries()) {
      expect(w.errors, `watcher ${i}`).toEqual([]);
      expect(w.seqs.get(plain), `watcher ${i}, plain job, ${w.sockets.length - 1} cuts`).toEqual(oneToN(EVENTS));
      expect(w.seqs.get(filtered), `watcher ${i}, filtered job`).toEqual(oneToN(EVENTS).filter((s) => typeOf(s) !== 'job_progress'));
      expect(w.seqs.get(late), `watcher ${i}, resumed job`).toEqual(oneToN(EVENTS).slice(EVENTS / 4));
    }
    for (const w of watchers) w.client.close();
  });

  it('subscribers joining a fast job at random moments on /ws and on SSE each get every event after their resume point once, in order', async () => {
    const job = await newJob();
    const log = f.eventLog(HANDOFF_EVENTS);
    const random = prng(5);
    let published = 0;
    let acknowledged = 0;
    const publisher = (async () => {
      while (published < HANDOFF_EVENTS) {
        const batch = oneToN(Math.min(20, HANDOFF_EVENTS - published)).map(() => ++published);
        await Promise.all(batch.map((seq) => log.append(job, draft(seq, HANDOFF_EVENTS))));
        acknowledged = published;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const mux: { client: MuxTestClient; from: number }[] = [];
    const sse: { text: () => string; from: number; stop: () => void }[] = [];
    const connection = new MuxTestClient(`ws://${f.host}/ws`);
    await connection.opened;
    while (published < HANDOFF_EVENTS && mux.length + sse.length < 120) {
      const from = random() < 0.3 ? -1 : Math.floor(random() * acknowledged);
      if (random() < 0.5) {
        const client = new MuxTestClient(`ws://${f.host}/ws`);
        await client.opened;
        client.subscribe(job, from >= 0 ? { last_seq: from } : {});
        mux.push({ client, from });
      } else {
        const controller = new AbortController();
        let text = '';
        void fetch(`http://${f.host}/sse/scraping/${job}${from >= 0 ? `?last_event_id=${from}` : ''}`, { signal: controller.signal })
          .then(async (res) => {
            const reader = res.body!.getReader();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return;
              text += Buffer.from(value).toString();
            }
          })
          .catch(() => undefined);
        sse.push({ text: () => text, from, stop: () => controller.abort() });
      }
      await new Promise((r) => setTimeout(r, random() * 3));
    }
    await publisher;
    expect(mux.length).toBeGreaterThanOrEqual(15);
    expect(sse.length).toBeGreaterThanOrEqual(15);
    const check = (seqs: number[], from: number, who: string) => {
      const start = from >= 0 ? from + 1 : seqs[0]!;
      expect(seqs, who).toEqual(oneToN(HANDOFF_EVENTS).slice(start - 1));
    };
    for (const { client, from } of mux) {
      await client.waitFor(() => client.events.some((e) => e.seq === HANDOFF_EVENTS), `mux client from ${from}`, 15_000);
      check(client.events.filter((e) => !e.metadata.snapshot).map((e) => e.seq), from, `mux client from ${from}`);
      client.close();
    }
    for (const { text, from, stop } of sse) {
      await expect.poll(() => text().includes('event: job_completed'), { timeout: 15_000 }).toBe(true);
      const seqs = [...text().matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { seq: number; metadata: { snapshot?: boolean } }).filter((e) => !e.metadata.snapshot).map((e) => e.seq);
      check(seqs, from, `sse client from ${from}`);
      stop();
    }
    connection.close();
  });
});
