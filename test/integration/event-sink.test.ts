import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapingEventSchema, type EventDraft, type ScrapingEvent } from '../../shared/events.js';
import { JobEventLog, MAX_EVENTS_PER_APPEND, MAX_EVENTS_PER_CALL, type PublishMode } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import type { JobEventSink } from '../../worker/events/job-event-sink.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { RedisEventSink } from '../../worker/events/redis-event-sink.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { createTestRedis, type TestRedis } from '../helpers/services.js';

const draft = (message: string, over: Partial<EventDraft> = {}): EventDraft => ({
  event_type: 'job_progress',
  status: 'running',
  progress: 50,
  results_count: 1,
  message,
  metadata: {},
  timestamp: new Date().toISOString(),
  ...over,
});

interface Harness {
  sink: JobEventSink;
  events(jobId: number): Promise<ScrapingEvent[]>;
  /** Loses the job's stream, as a Redis without persistence does on restart. */
  lose(jobId: number): Promise<void>;
}

let t: TestRedis;
beforeAll(async () => {
  t = await createTestRedis();
});
afterAll(() => t.cleanup());

const implementations: [string, () => Harness][] = [
  [
    'memory',
    () => {
      const sink = new MemoryEventSink();
      return { sink, events: async (jobId) => sink.events(jobId), lose: async (jobId) => sink.lose(jobId) };
    },
  ],
  [
    'redis',
    () => {
      const keys = new RedisKeys(`${t.keyPrefix}${Math.random().toString(36).slice(2)}:`);
      const sink = new RedisEventSink(new JobEventLog(t.redis, keys, { maxEvents: 1000, retentionSeconds: 60 }));
      return {
        sink,
        events: async (jobId) => (await t.redis.lrange(keys.jobHistory(jobId), 0, -1)).map((e) => scrapingEventSchema.parse(JSON.parse(e))),
        lose: async (jobId) => void (await t.redis.del(keys.jobState(jobId), keys.jobHistory(jobId))),
      };
    },
  ],
];

// One contract, two implementations: what the orchestrator's unit tests rely on of the memory
// sink is what the worker gets from the Redis one.
describe.each(implementations)('JobEventSink contract (%s)', (_name, make) => {
  it('applies emits of one job in call order, even when nobody waits in between', async () => {
    const { sink, events } = make();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sink.emit(1, draft(`e${i}`))));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const stored = await events(1);
    expect(stored.map((e) => [e.seq, e.message])).toEqual(Array.from({ length: 50 }, (_, i) => [i + 1, `e${i}`]));
    expect(new Set(stored.map((e) => e.metadata.epoch)).size).toBe(1);
  });

  it('numbers each job on its own', async () => {
    const { sink } = make();
    const [a, b, c] = await Promise.all([sink.emit(2, draft('a')), sink.emit(3, draft('b')), sink.emit(2, draft('c'))]);
    expect([a.seq, b.seq, c.seq]).toEqual([1, 1, 2]);
  });

  it('continues above the highest seq it saw, under a new epoch, when the stream is lost', async () => {
    const { sink, events, lose } = make();
    const first = await sink.emit(4, draft('a'));
    await sink.emit(4, draft('b'));
    await lose(4);
    const after = await sink.emit(4, draft('c'));
    expect(after.seq).toBe(3);
    expect(after.epoch).not.toBe(first.epoch);
    expect((await events(4)).map((e) => e.seq)).toEqual([3]);
  });

  it('starts a new stream above a floor raised from elsewhere (the job row)', async () => {
    const { sink } = make();
    sink.raiseSeqFloor(5, 41);
    sink.raiseSeqFloor(5, 12);
    expect((await sink.emit(5, draft('a'))).seq).toBe(42);
  });

  it('reports the head of a stream, and none for a job without one', async () => {
    const { sink } = make();
    expect(await sink.head(6)).toBeNull();
    await sink.emit(6, draft('a', { event_type: 'job_started', progress: 0 }));
    await sink.emit(6, draft('b', { event_type: 'job_completed', status: 'completed', progress: 100 }));
    expect(await sink.head(6)).toEqual({ seq: 2, status: 'completed', eventType: 'job_completed' });
  });

  it('rejects a draft that breaks the schema and keeps numbering the next ones', async () => {
    const { sink, events } = make();
    const bad = sink.emit(7, draft('bad', { progress: 250 }));
    const good = sink.emit(7, draft('good'));
    await expect(bad).rejects.toThrow();
    expect((await good).seq).toBe(1);
    expect((await events(7)).map((e) => e.message)).toEqual(['good']);
  });
});

describe('RedisEventSink pipelining', () => {
  const make = (pipeline: boolean, publish: PublishMode = 'PUBLISH') => {
    const keys = new RedisKeys(`${t.keyPrefix}${Math.random().toString(36).slice(2)}:`);
    const replies: string[] = [];
    const calls: number[] = [];
    // The first call of a job leaves late, as an EVALSHA re-sent as EVAL after NOSCRIPT does:
    // the second call overtakes it on the wire.
    class LateFirstCall extends JobEventLog {
      override async appendMany(...args: Parameters<JobEventLog['appendMany']>) {
        calls.push(args[1].length);
        if (args[3]?.index === 1 && args[3].previous === undefined && replies.length === 0) await new Promise((r) => setTimeout(r, 50));
        const reply = await super.appendMany(...args);
        replies.push(reply.kind);
        return reply;
      }
      override async appendSections(...args: Parameters<JobEventLog['appendSections']>) {
        calls.push(args[0].reduce((sum, section) => sum + section.events.length, 0));
        const all = await super.appendSections(...args);
        replies.push(...all.map((r) => (r instanceof Error ? 'error' : r.kind)));
        return all;
      }
    }
    const sink = new RedisEventSink(new LateFirstCall(t.redis, keys, { maxEvents: 1000, retentionSeconds: 60 }, publish), { pipeline });
    const stored = async (jobId: number) => (await t.redis.lrange(keys.jobHistory(jobId), 0, -1)).map((e) => scrapingEventSchema.parse(JSON.parse(e)));
    return { sink, replies, calls, stored };
  };

  it("sends a tick's emits in one call, and all emitted while it is in flight in the next one once it is answered", async () => {
    const { sink, replies, calls, stored } = make(true);
    const first = [sink.emit(1, draft('a')), sink.emit(1, draft('b')), sink.emit(1, draft('c'))];
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([3]);
    // The first call is in flight (50 ms): these wait for its reply, over several ticks.
    const second = [sink.emit(1, draft('d')), sink.emit(2, draft('x'))];
    await new Promise((r) => setTimeout(r, 10));
    second.push(sink.emit(1, draft('e')));
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toEqual([3]);
    const seqs = (await Promise.all([...first, ...second])).map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 1, 5]);
    // Jobs 1 and 2 in one shared call, sent after the first reply.
    expect(calls).toEqual([3, 3]);
    expect(replies).toEqual(['applied', 'applied', 'applied']);
    expect((await stored(1)).map((e) => [e.seq, e.message])).toEqual([[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']]);
    expect((await stored(2)).map((e) => e.message)).toEqual(['x']);
  });

  it('on a cluster (a job a call) holds only the emits of a job whose call is in flight', async () => {
    // SPUBLISH: the call layout of a cluster, on the test's single Redis.
    const { sink, calls, stored } = make(true, 'SPUBLISH');
    const first = sink.emit(1, draft('a'));
    await new Promise((r) => setImmediate(r));
    const later = [sink.emit(1, draft('b')), sink.emit(2, draft('x')), sink.emit(1, draft('c'))];
    await new Promise((r) => setTimeout(r, 20));
    // Job 2 went at once; job 1's waits for its first call (50 ms late).
    expect(calls).toEqual([1, 1]);
    expect((await Promise.all([first, ...later])).map((e) => e.seq)).toEqual([1, 2, 1, 3]);
    expect(calls).toEqual([1, 1, 2]);
    expect((await stored(1)).map((e) => e.message)).toEqual(['a', 'b', 'c']);
  });

  it('refuses a later call of a job that overtakes an earlier one of the same tick, and re-sends it in order', async () => {
    const { sink, replies, calls, stored } = make(true);
    // More events than a section holds: two calls of job 1 leave in one flush, the first late.
    const messages = Array.from({ length: MAX_EVENTS_PER_APPEND + 2 }, (_, i) => `m${i}`);
    const seqs = (await Promise.all(messages.map((m) => sink.emit(1, draft(m))))).map((e) => e.seq);
    expect(seqs).toEqual(messages.map((_, i) => i + 1));
    expect(calls).toEqual([MAX_EVENTS_PER_APPEND, 2, 2]);
    // The second call ran into the order check, then went again after the first.
    expect(replies).toEqual(['order', 'applied', 'applied']);
    expect((await stored(1)).map((e) => e.message)).toEqual(messages);
  });

  it('without pipelining sends one emit per call, each after the previous reply', async () => {
    const { sink, calls, replies, stored } = make(false);
    const seqs = (await Promise.all(['a', 'b', 'c'].map((m) => sink.emit(2, draft(m))))).map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(calls).toEqual([1, 1, 1]);
    expect(replies).toEqual(['applied', 'applied', 'applied']);
    expect((await stored(2)).map((e) => e.message)).toEqual(['a', 'b', 'c']);
  });
});

describe('RedisEventSink when Redis loses its script cache mid-stream', () => {
  it("keeps a job's emits in call order while scripts are flushed and reloaded under it", async () => {
    // A Redis of the test's own: flushing the script cache must not disturb anyone else.
    const server = await PrivateRedis.start();
    const redis = new Redis(server.url);
    const chaos = new Redis(server.url);
    try {
      const keys = new RedisKeys('flush:');
      const sink = new RedisEventSink(new JobEventLog(redis, keys, { maxEvents: 10_000, retentionSeconds: 60 }));
      const script = readFileSync(new URL('../../shared/redis/emit-events-n.lua', import.meta.url), 'utf8');
      let running = true;
      let flushes = 0;
      // Another client flushes the cache and loads the script again, over and over: some EVALSHAs
      // fail with NOSCRIPT and are re-sent as EVAL while later ones already succeed.
      const flusher = (async () => {
        while (running) {
          await chaos.script('FLUSH');
          flushes += 1;
          await new Promise((r) => setImmediate(r));
          await chaos.script('LOAD', script);
          await new Promise((r) => setTimeout(r, Math.random() * 2));
        }
      })();
      const pending: Promise<unknown>[] = [];
      // At least 400 ticks, and on until the cache was flushed often enough (the sink's calls
      // are few: what is emitted while one is in flight goes in the next), within 10 s and the
      // history's cap.
      const deadline = Date.now() + 10_000;
      let tick = 0;
      for (; (tick < 400 || flushes <= 20) && Date.now() < deadline && tick < 3000; tick++) {
        for (let k = 0; k < 3; k++) pending.push(sink.emit(1, draft(`e${tick * 3 + k}`)));
        await new Promise((r) => setImmediate(r));
      }
      const results = (await Promise.all(pending)) as { seq: number }[];
      running = false;
      await flusher;
      expect(flushes).toBeGreaterThan(10);
      expect(results.map((r) => r.seq)).toEqual(Array.from({ length: tick * 3 }, (_, i) => i + 1));
      const stored = (await redis.lrange(keys.jobHistory(1), 0, -1)).map((e) => scrapingEventSchema.parse(JSON.parse(e)));
      expect(stored.map((e) => e.message)).toEqual(Array.from({ length: tick * 3 }, (_, i) => `e${i}`));
    } finally {
      redis.disconnect();
      chaos.disconnect();
      await server.stop();
    }
  });
});

describe('RedisEventSink: jobs emitting in the same tick share one script call', () => {
  const emitCalls = async (admin: Redis) => {
    const stats = await admin.info('commandstats');
    return ['evalsha', 'eval'].reduce((sum, name) => sum + Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
  };

  it("sends one call for the tick's emits of several jobs, each job numbered as if alone", async () => {
    // A Redis of the test's own: its command counts are this test's alone.
    const server = await PrivateRedis.start();
    const redis = new Redis(server.url);
    try {
      const together = new RedisKeys('together:');
      const alone = new RedisKeys('alone:');
      const sink = new RedisEventSink(new JobEventLog(redis, together, { maxEvents: 1000, retentionSeconds: 60 }));
      const aloneSink = new RedisEventSink(new JobEventLog(redis, alone, { maxEvents: 1000, retentionSeconds: 60 }));
      const jobs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
      const events = (jobId: number) => Array.from({ length: (jobId % 3) + 1 }, (_, i) => draft(`j${jobId}e${i}`));
      sink.raiseSeqFloor(4, 20);
      aloneSink.raiseSeqFloor(4, 20);
      // Warm the script cache (the first EVALSHA of a connection may go again as EVAL).
      await sink.emit(99, draft('warm'));
      const before = await emitCalls(redis);
      // The jobs' emits interleave within the tick, and two jobs emit from another callback of
      // the same turn of the event loop (before the sink's end of tick).
      const pending: Promise<{ seq: number; epoch: string }>[] = [];
      const other = new Promise<void>((resolve) =>
        setImmediate(() => {
          for (const jobId of [9, 10]) for (const e of events(jobId)) pending.push(sink.emit(jobId, e));
          resolve();
        }),
      );
      for (let i = 0; i < 3; i++) for (const jobId of jobs.slice(0, 8)) if (i < events(jobId).length) pending.push(sink.emit(jobId, events(jobId)[i]!));
      await other;
      const results = await Promise.all(pending);
      expect((await emitCalls(redis)) - before).toBe(1);
      expect(new Set(results.map((r) => r.epoch)).size).toBeGreaterThan(1);
      // The same emits, each job on its own in its own ticks.
      for (const jobId of jobs) for (const e of events(jobId)) await aloneSink.emit(jobId, e);
      for (const jobId of jobs) {
        const history = async (keys: RedisKeys) => (await redis.lrange(keys.jobHistory(jobId), 0, -1)).map((e) => scrapingEventSchema.parse(JSON.parse(e)));
        const [a, b] = [await history(together), await history(alone)];
        expect(a.map((e) => [e.seq, e.message])).toEqual(b.map((e) => [e.seq, e.message]));
        expect(a.map((e) => e.seq)[0]).toBe(jobId === 4 ? 21 : 1);
      }
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });

  it("re-sends a job's section refused out of order on its own, without disturbing the others of its call", async () => {
    const keys = new RedisKeys(`${t.keyPrefix}${Math.random().toString(36).slice(2)}:`);
    const calls: { jobs: number[]; replies: string[] }[] = [];
    // The first call of the flush leaves late (an EVALSHA re-sent as EVAL after NOSCRIPT): the
    // second, with job 1's further events and jobs 2 and 3, overtakes it.
    let delayed = false;
    class LateFirstCall extends JobEventLog {
      override async appendMany(...args: Parameters<JobEventLog['appendMany']>) {
        const reply = await super.appendMany(...args);
        calls.push({ jobs: [args[0]], replies: [reply.kind] });
        return reply;
      }
      override async appendSections(...args: Parameters<JobEventLog['appendSections']>) {
        if (!delayed) {
          delayed = true;
          await new Promise((r) => setTimeout(r, 50));
        }
        const replies = await super.appendSections(...args);
        calls.push({ jobs: args[0].map((s) => s.jobId), replies: replies.map((r) => (r instanceof Error ? 'error' : r.kind)) });
        return replies;
      }
    }
    const sink = new RedisEventSink(new LateFirstCall(t.redis, keys, { maxEvents: 1000, retentionSeconds: 60 }));
    // Jobs 10, 11, 12 and job 1's first section fill the first call (MAX_EVENTS_PER_CALL events);
    // job 1's last two events, and jobs 2 and 3, go in the second.
    const full = (jobId: number, n: number) => Array.from({ length: n }, (_, i) => sink.emit(jobId, draft(`${jobId}.${i}`)));
    const fillers = [10, 11, 12].flatMap((jobId) => full(jobId, (MAX_EVENTS_PER_CALL - MAX_EVENTS_PER_APPEND) / 3));
    const job1 = full(1, MAX_EVENTS_PER_APPEND + 2);
    const others = [sink.emit(2, draft('2a')), sink.emit(3, draft('3a')), sink.emit(2, draft('2b'))];
    await Promise.all(fillers);
    expect((await Promise.all(job1)).map((e) => e.seq)).toEqual(job1.map((_, i) => i + 1));
    expect((await Promise.all(others)).map((e) => e.seq)).toEqual([1, 1, 2]);
    expect(calls).toEqual([
      { jobs: [1, 2, 3], replies: ['order', 'applied', 'applied'] },
      { jobs: [10, 11, 12, 1], replies: ['applied', 'applied', 'applied', 'applied'] },
      { jobs: [1], replies: ['applied'] },
    ]);
    const stored = async (jobId: number) => (await t.redis.lrange(keys.jobHistory(jobId), 0, -1)).map((x) => JSON.parse(x).message as string);
    expect(await stored(1)).toEqual(job1.map((_, i) => `1.${i}`));
    expect([await stored(2), await stored(3)]).toEqual([['2a', '2b'], ['3a']]);
  });
});
