import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapingEventSchema, type EventDraft } from '../../shared/events.js';
import { JobEventLog, seqOfPayload } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { createTestRedis, type TestRedis } from '../helpers/services.js';

const draft = (over: Partial<EventDraft> = {}): EventDraft => ({
  event_type: 'job_progress',
  status: 'running',
  progress: 10,
  results_count: 3,
  message: 'Scraping "MUC→BCN"…',
  metadata: { successful_scrapers: 1, failed_scrapers: 0, nested: { list: [1, 2] } },
  timestamp: new Date().toISOString(),
  ...over,
});

describe('JobEventLog (Redis)', () => {
  let t: TestRedis;
  let log: JobEventLog;
  let keys: RedisKeys;

  beforeAll(async () => {
    t = await createTestRedis();
    keys = new RedisKeys(t.keyPrefix);
    log = new JobEventLog(t.redis, keys, { maxEvents: 5, retentionSeconds: 60 });
  });
  afterAll(() => t.cleanup());

  it('assigns seq 1, 2, 3 and stores schema-valid events under one epoch', async () => {
    const a = await log.append(1, draft({ event_type: 'job_started', progress: 0 }));
    const b = await log.append(1, draft());
    const c = await log.append(1, draft({ event_type: 'job_completed', status: 'completed', progress: 100 }));
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3]);
    expect(new Set([a.epoch, b.epoch, c.epoch]).size).toBe(1);

    const history = await t.redis.lrange(keys.jobHistory(1), 0, -1);
    const events = history.map((h) => scrapingEventSchema.parse(JSON.parse(h)));
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[1]!.message).toBe('Scraping "MUC→BCN"…');
    expect(events[1]!.metadata).toEqual({ epoch: a.epoch, successful_scrapers: 1, failed_scrapers: 0, nested: { list: [1, 2] } });
    expect(history.map(seqOfPayload)).toEqual([1, 2, 3]);

    const { state } = await log.read(1);
    expect(state).toMatchObject({ seq: 3, status: 'completed', progress: 100, results_count: 3, epoch: a.epoch });
    expect(state!.started_at).toBe(events[0]!.timestamp);
    expect(state!.completed_at).toBe(events[2]!.timestamp);
    expect(await t.redis.ttl(keys.jobHistory(1))).toBeGreaterThan(50);
  });

  it('publishes each event on the job channel', async () => {
    const sub = t.redis.duplicate();
    const got: string[] = [];
    sub.on('message', (_channel, message) => got.push(message));
    await sub.subscribe(keys.jobChannel(2));
    await log.append(2, draft());
    await log.append(2, draft());
    await expect.poll(() => got.map(seqOfPayload)).toEqual([1, 2]);
    sub.disconnect();
  });

  it('returns history after a resume point, or a gap when the capped history lost it', async () => {
    for (let i = 0; i < 8; i++) await log.append(3, draft());
    const resume = await log.read(3, 5);
    expect((resume.history as string[]).map(seqOfPayload)).toEqual([6, 7, 8]);
    expect((await log.read(3, 8)).history).toEqual([]);
    expect((await log.read(3, 2)).history).toBe('gap');
    expect((await log.read(3, 3)).history).not.toBe('gap');
    expect(await log.read(404)).toEqual({ state: null, history: null });
    expect((await log.read(3)).history).toBeNull();
  });

  it('writes a null progress as null and a number as that number', async () => {
    await log.append(6, draft({ progress: null }));
    await log.append(6, draft({ progress: 0 }));
    await log.append(6, draft({ progress: 37.5 }));
    const events = (await t.redis.lrange(keys.jobHistory(6), 0, -1)).map((h) => JSON.parse(h) as { progress: number | null });
    expect(events.map((e) => e.progress)).toEqual([null, 0, 37.5]);
  });

  it('refreshes the expiry of the live state and history with every event', async () => {
    await log.append(7, draft());
    // Time passes: both keys are close to expiring.
    await t.redis.expire(keys.jobState(7), 5);
    await t.redis.expire(keys.jobHistory(7), 5);
    await log.append(7, draft());
    expect(await t.redis.ttl(keys.jobState(7))).toBeGreaterThan(50);
    expect(await t.redis.ttl(keys.jobHistory(7))).toBeGreaterThan(50);
  });

  it('continues above the seq floor under a new epoch when the live state is lost', async () => {
    const first = await log.append(4, draft());
    await log.append(4, draft());
    await t.redis.del(keys.jobState(4), keys.jobHistory(4));
    const after = await log.append(4, draft(), 2);
    expect(after.seq).toBe(3);
    expect(after.epoch).not.toBe(first.epoch);
  });

  it('rejects a draft that breaks the event schema and writes nothing', async () => {
    await expect(log.append(5, draft({ progress: 101 }))).rejects.toThrow();
    expect(await t.redis.exists(keys.jobState(5))).toBe(0);
  });
});

describe('JobEventLog emit script: several events a call, expiry when due, order of a writer', () => {
  let t: TestRedis;
  let log: JobEventLog;
  let keys: RedisKeys;

  beforeAll(async () => {
    t = await createTestRedis();
    keys = new RedisKeys(t.keyPrefix);
    log = new JobEventLog(t.redis, keys, { maxEvents: 5, retentionSeconds: 60 });
  });
  afterAll(() => t.cleanup());

  it('appends, publishes and numbers several events of one call in order, and keeps the cap exact', async () => {
    const sub = t.redis.duplicate();
    const got: string[] = [];
    sub.on('message', (_channel, message) => got.push(message));
    await sub.subscribe(keys.jobChannel(10));
    const started = draft({ event_type: 'job_started', progress: 0, message: 'a' });
    const reply = await log.appendMany(10, [started, draft({ message: 'b', progress: null }), draft({ message: 'c', progress: 40, results_count: 9 })]);
    expect(reply).toMatchObject({ kind: 'applied', lastSeq: 3 });
    await expect.poll(() => got.map(seqOfPayload)).toEqual([1, 2, 3]);
    const events = (await t.redis.lrange(keys.jobHistory(10), 0, -1)).map((h) => scrapingEventSchema.parse(JSON.parse(h)));
    expect(events.map((e) => [e.seq, e.message, e.progress])).toEqual([[1, 'a', 0], [2, 'b', null], [3, 'c', 40]]);
    const { state } = await log.read(10);
    expect(state).toMatchObject({ seq: 3, progress: 40, results_count: 9, started_at: started.timestamp });
    expect(state!.completed_at).toBeUndefined();

    // 3 + 4 events: the history holds exactly the last 5.
    await log.appendMany(10, [draft(), draft(), draft(), draft({ event_type: 'job_completed', status: 'completed', progress: 100 })]);
    expect((await t.redis.lrange(keys.jobHistory(10), 0, -1)).map(seqOfPayload)).toEqual([3, 4, 5, 6, 7]);
    expect((await log.read(10)).state).toMatchObject({ seq: 7, status: 'completed', progress: 100 });
    expect((await log.read(10)).state!.completed_at).toBeDefined();
    sub.disconnect();
  });

  it('keeps both keys at least the retention after the last event, refreshing expiry only when due', async () => {
    await log.append(11, draft());
    const ttl = await t.redis.ttl(keys.jobState(11));
    expect(ttl).toBeGreaterThanOrEqual(60);
    expect(ttl).toBeLessThanOrEqual(66);
    // Not due: a call leaves the expiry alone (it would have set it back to 66).
    await t.redis.expire(keys.jobState(11), 63);
    await t.redis.expire(keys.jobHistory(11), 63);
    await log.append(11, draft());
    expect(await t.redis.ttl(keys.jobState(11))).toBeLessThanOrEqual(63);
    // Due (less than the retention left): refreshed, on both keys.
    await t.redis.expire(keys.jobState(11), 30);
    await t.redis.expire(keys.jobHistory(11), 30);
    await log.append(11, draft());
    expect(await t.redis.ttl(keys.jobState(11))).toBeGreaterThanOrEqual(60);
    expect(await t.redis.ttl(keys.jobHistory(11))).toBeGreaterThanOrEqual(60);
  });

  it("refuses a writer's call that overtook its previous one, and never applies a call twice", async () => {
    const writer = (index: number, previous?: number) => ({ token: 'w1', index, previous });
    expect(await log.appendMany(12, [draft({ message: 'second' })], 0, writer(2, 1))).toEqual({ kind: 'order', done: null });
    expect(await t.redis.exists(keys.jobState(12), keys.jobHistory(12))).toBe(0);
    expect(await log.appendMany(12, [draft({ message: 'first' })], 0, writer(1))).toMatchObject({ kind: 'applied', lastSeq: 1 });
    expect(await log.appendMany(12, [draft({ message: 'third' })], 0, writer(3, 2))).toEqual({ kind: 'order', done: 1 });
    expect(await log.appendMany(12, [draft({ message: 'second' })], 0, writer(2, 1))).toMatchObject({ kind: 'applied', lastSeq: 2 });
    // The same call again (a re-send after a dropped connection): reported, not applied twice.
    expect(await log.appendMany(12, [draft({ message: 'second' })], 0, writer(2, 1))).toMatchObject({ kind: 'applied', lastSeq: 2 });
    // Another writer's calls are not held back by this one's numbering.
    expect(await log.appendMany(12, [draft({ message: 'other' })], 0, { token: 'w2', index: 1 })).toMatchObject({ kind: 'applied', lastSeq: 3 });
    const history = (await t.redis.lrange(keys.jobHistory(12), 0, -1)).map((h) => scrapingEventSchema.parse(JSON.parse(h)).message);
    expect(history).toEqual(['first', 'second', 'other']);
  });
});

describe('JobEventLog after a failover that lost the tail', () => {
  let t: TestRedis;
  beforeAll(async () => {
    t = await createTestRedis();
  });
  afterAll(() => t.cleanup());

  it('starts a new epoch above the floor when the live state is behind a seq the writer was given', async () => {
    const keys = new RedisKeys(t.keyPrefix);
    const log = new JobEventLog(t.redis, keys, { maxEvents: 50, retentionSeconds: 60 });
    const first = await log.append(1, draft());
    await log.append(1, draft());
    // The replica that took over had seq 2; the writer had been given 5.
    const after = await log.append(1, draft(), 5);
    expect(after.seq).toBe(6);
    expect(after.epoch).not.toBe(first.epoch);
    expect((await t.redis.lrange(keys.jobHistory(1), 0, -1)).map(seqOfPayload)).toEqual([6]);
    expect((await log.read(1, 2)).history).toBe('gap');
    // A floor at or below the state changes nothing.
    expect(await log.append(1, draft(), 6)).toEqual({ seq: 7, epoch: after.epoch });
  });
});

describe('JobEventLog: identity and finished retention', () => {
  let t: TestRedis;
  let keys: RedisKeys;
  beforeAll(async () => {
    t = await createTestRedis();
    keys = new RedisKeys(t.keyPrefix);
  });
  afterAll(() => t.cleanup());

  it('replaces a stream written for another row of the same id: new epoch, old history and writer marks gone', async () => {
    const log = new JobEventLog(t.redis, keys, { maxEvents: 50, retentionSeconds: 60 });
    const old = await log.append(1, draft(), 0, 'row-a');
    await log.appendMany(1, [draft({ event_type: 'job_completed', status: 'completed', progress: 100 })], 0, { token: 'w1', index: 1 }, 'row-a');
    expect((await log.read(1)).state).toMatchObject({ identity: 'row-a', seq: 2, status: 'completed' });
    const fresh = await log.append(1, draft({ event_type: 'job_started', progress: 0 }), 0, 'row-b');
    expect(fresh.seq).toBe(1);
    expect(fresh.epoch).not.toBe(old.epoch);
    const { state } = await log.read(1);
    expect(state).toMatchObject({ identity: 'row-b', seq: 1, status: 'running', event_type: 'job_started' });
    expect(state?.completed_at).toBeUndefined();
    expect(await t.redis.hexists(keys.jobState(1), 'w:w1')).toBe(0);
    expect((await t.redis.lrange(keys.jobHistory(1), 0, -1)).map(seqOfPayload)).toEqual([1]);
    // The same identity continues the stream.
    expect(await log.append(1, draft(), 0, 'row-b')).toEqual({ seq: 2, epoch: fresh.epoch });
  });

  it('shortens expiry to the finished retention on a terminal event, and restores it if the job runs again', async () => {
    const log = new JobEventLog(t.redis, keys, { maxEvents: 50, retentionSeconds: 600, finishedRetentionSeconds: 30 });
    await log.append(2, draft());
    expect(await t.redis.ttl(keys.jobState(2))).toBeGreaterThan(600);
    await log.append(2, draft({ event_type: 'job_completed', status: 'completed', progress: 100 }));
    for (const key of [keys.jobState(2), keys.jobHistory(2)]) {
      const ttl = await t.redis.ttl(key);
      expect(ttl).toBeGreaterThan(25);
      expect(ttl).toBeLessThanOrEqual(30);
    }
    await log.append(2, draft({ event_type: 'job_started', progress: 0 })); // a retry
    expect(await t.redis.ttl(keys.jobHistory(2))).toBeGreaterThan(600);
  });
});

describe('JobEventLog: several jobs in one script call', () => {
  let t: TestRedis;
  beforeAll(async () => {
    t = await createTestRedis();
  });
  afterAll(() => t.cleanup());

  const stored = async (keys: RedisKeys, jobId: number) =>
    (await t.redis.lrange(keys.jobHistory(jobId), 0, -1)).map((h) => {
      const e = scrapingEventSchema.parse(JSON.parse(h));
      return [e.seq, e.message];
    });

  it('applies each section as a call of its own would, one reply each, and keeps one section a string reply', async () => {
    const alone = new RedisKeys(`${t.keyPrefix}alone:`);
    const together = new RedisKeys(`${t.keyPrefix}together:`);
    const aloneLog = new JobEventLog(t.redis, alone, { maxEvents: 3, retentionSeconds: 60 });
    const log = new JobEventLog(t.redis, together, { maxEvents: 3, retentionSeconds: 60 });
    expect(log.batchesJobs).toBe(true);
    const sections = [
      { jobId: 1, events: [draft({ event_type: 'job_started', progress: 0, message: '1a' }), draft({ message: '1b' })] },
      { jobId: 2, events: [draft({ message: '2a' })], seqFloor: 40, identity: 'row-2' },
      { jobId: 3, events: [draft({ message: '3a' }), draft({ message: '3b' }), draft({ message: '3c' }), draft({ message: '3d' })] },
      { jobId: 4, events: [draft({ event_type: 'job_completed', status: 'completed', progress: 100, message: '4a' })] },
    ];
    const replies = await log.appendSections(sections);
    expect(replies.map((r) => (r instanceof Error ? 'error' : r.kind === 'applied' ? r.lastSeq : r.kind))).toEqual([2, 41, 4, 1]);
    for (const s of sections) await aloneLog.appendMany(s.jobId, s.events, s.seqFloor, undefined, s.identity);
    for (const jobId of [1, 2, 3, 4]) {
      expect(await stored(together, jobId)).toEqual(await stored(alone, jobId));
      const [a, b] = [(await log.read(jobId)).state!, (await aloneLog.read(jobId)).state!];
      expect({ ...a, epoch: '' }).toEqual({ ...b, epoch: '' });
    }
    // Trimmed to the cap, as alone.
    expect((await stored(together, 3)).map(([seq]) => seq)).toEqual([2, 3, 4]);
    // One section: the reply is the script's plain string, parsed as ever.
    expect(await log.appendSections([{ jobId: 1, events: [draft({ message: '1c' })] }])).toMatchObject([{ kind: 'applied', lastSeq: 3 }]);
  });

  it("refuses one job's section out of order and fails another's alone, applying the rest", async () => {
    const keys = new RedisKeys(`${t.keyPrefix}mixed:`);
    const log = new JobEventLog(t.redis, keys, { maxEvents: 50, retentionSeconds: 60 });
    await t.redis.set(keys.jobHistory(13), 'not a list'); // the RPUSH of job 13's section fails
    const replies = await log.appendSections([
      { jobId: 11, events: [draft({ message: '11a' })], writer: { token: 'w', index: 1 } },
      { jobId: 12, events: [draft({ message: '12b' })], writer: { token: 'w', index: 2, previous: 1 } },
      { jobId: 13, events: [draft({ message: '13a' })] },
      { jobId: 14, events: [draft({ message: '14a' })], writer: { token: 'w', index: 1 } },
    ]);
    expect(replies[0]).toMatchObject({ kind: 'applied', lastSeq: 1 });
    expect(replies[1]).toEqual({ kind: 'order', done: null });
    expect(replies[2]).toBeInstanceOf(Error);
    expect((replies[2] as Error).message).toMatch(/job 13.*WRONGTYPE/);
    expect(replies[3]).toMatchObject({ kind: 'applied', lastSeq: 1 });
    expect(await t.redis.exists(keys.jobState(12), keys.jobHistory(12))).toBe(0);
    expect(await stored(keys, 11)).toEqual([[1, '11a']]);
    expect(await stored(keys, 14)).toEqual([[1, '14a']]);
  });

  it('is a call of one job on a cluster', () => {
    const keys = new RedisKeys(`${t.keyPrefix}c:`);
    expect(new JobEventLog(t.redis, keys, { maxEvents: 5, retentionSeconds: 60 }, 'SPUBLISH').batchesJobs).toBe(false);
  });
});
