import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapingEventSchema, type EventDraft, type ScrapingEvent } from '../../shared/events.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
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
  const make = (pipeline: boolean) => {
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
    }
    const sink = new RedisEventSink(new LateFirstCall(t.redis, keys, { maxEvents: 1000, retentionSeconds: 60 }), { pipeline });
    const stored = async (jobId: number) => (await t.redis.lrange(keys.jobHistory(jobId), 0, -1)).map((e) => scrapingEventSchema.parse(JSON.parse(e)));
    return { sink, replies, calls, stored };
  };

  it("sends a tick's emits in one call and the next tick's without waiting; an overtaking call is refused and re-sent in order", async () => {
    const { sink, replies, calls, stored } = make(true);
    const first = [sink.emit(1, draft('a')), sink.emit(1, draft('b')), sink.emit(1, draft('c'))];
    await new Promise((r) => setImmediate(r));
    const second = [sink.emit(1, draft('d')), sink.emit(1, draft('e'))];
    const seqs = (await Promise.all([...first, ...second])).map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(calls.slice(0, 2)).toEqual([3, 2]);
    // The second call ran into the order check, then went again after the first.
    expect(replies).toEqual(['order', 'applied', 'applied']);
    expect((await stored(1)).map((e) => [e.seq, e.message])).toEqual([[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']]);
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
      for (let tick = 0; tick < 400; tick++) {
        for (let k = 0; k < 3; k++) pending.push(sink.emit(1, draft(`e${tick * 3 + k}`)));
        await new Promise((r) => setImmediate(r));
      }
      const results = (await Promise.all(pending)) as { seq: number }[];
      running = false;
      await flusher;
      expect(flushes).toBeGreaterThan(10);
      expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
      const stored = (await redis.lrange(keys.jobHistory(1), 0, -1)).map((e) => scrapingEventSchema.parse(JSON.parse(e)));
      expect(stored.map((e) => e.message)).toEqual(Array.from({ length: 1200 }, (_, i) => `e${i}`));
    } finally {
      redis.disconnect();
      chaos.disconnect();
      await server.stop();
    }
  });
});
