import { describe, expect, it } from 'vitest';
import type { InitialServe } from '../../gateway/ws/job-channels.js';
import { CLOSE_CODES } from '../../shared/protocol.js';
import { deferred, FanOutWorld, payload, settle, type FakeSocket } from '../helpers/fan-out-fakes.js';

/*
 * JobChannels, the gateway's fan-out state machine, driven step by step with a fake subscriber
 * connection, a fake event log and fake sockets: every branch of join, hand-off, gap recovery and
 * resync, each asserting exactly which seqs every socket received.
 */

const JOB = 7;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** What a plain joiner is served: a snapshot at the stream's current seq (0 before any event). */
function snapshot(world: FanOutWorld, jobId = JOB, counter?: { n: number }) {
  return async (): Promise<InitialServe> => {
    if (counter) counter.n += 1;
    const read = await world.eventLog.read(jobId);
    const seq = read.state?.seq ?? 0;
    return { frames: [`{"job_id":${jobId},"seq":${seq},"snapshot":true}`], servedSeq: seq };
  };
}

/** What a resuming joiner is served: the history after its last seq. */
function resume(world: FanOutWorld, lastSeq: number, jobId = JOB) {
  return async (): Promise<InitialServe> => {
    const read = await world.eventLog.read(jobId, lastSeq);
    if (!read.state || !Array.isArray(read.history)) throw new Error('test setup: history must hold the resume point');
    return { frames: read.history, servedSeq: read.state.seq };
  };
}

async function join(world: FanOutWorld, socket: FakeSocket, serve: () => Promise<InitialServe>, shareable = true) {
  return world.channels.attach(JOB, socket, serve, { shareable });
}

describe('JobChannels: joining', () => {
  it('subscribes the job channel once for its first client and serves the snapshot, then live events through the topic', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const b = w.socket(JOB, 'b');
    expect(await join(w, a, snapshot(w))).toBe(true);
    expect(await join(w, b, snapshot(w), false)).toBe(true);
    expect(w.subscriber.subscribeCalls).toEqual([[w.keys.jobChannel(JOB)]]);
    expect(w.channels.activeJobs).toBe(1);
    expect(w.channels.redisChannels).toBe(1);
    // Nothing forwarded yet: both wait for their first event before joining the topic.
    expect(a.topics).toEqual([]);
    w.emit(JOB);
    w.emit(JOB);
    expect(a.seqs).toEqual([0, 1, 2]);
    expect(b.seqs).toEqual([0, 1, 2]);
    expect(a.topics).toEqual([w.channels.topicOf(JOB)]);
    expect(w.published.map((p) => p.seq)).toEqual([1, 2]);
    expect(w.channels.stats).toMatchObject({ eventsReceived: 2, eventsForwarded: 2, duplicatesDropped: 0 });
  });

  it('counts but ignores an event of a job without local clients', () => {
    const w = new FanOutWorld();
    w.emit(99);
    expect(w.published).toEqual([]);
    expect(w.channels.stats).toMatchObject({ eventsReceived: 1, eventsForwarded: 0 });
  });

  it('registers its listeners once however often it is started', () => {
    const w = new FanOutWorld();
    w.channels.start();
    expect(w.subscriber.listenerCounts).toEqual([1, 1, 1]);
  });

  it('goes live at once when the channel already forwarded the seq the joiner was served', async () => {
    const w = new FanOutWorld();
    const first = w.socket(JOB, 'first');
    await join(w, first, snapshot(w));
    w.emit(JOB);
    w.emit(JOB);
    const late = w.socket(JOB, 'late');
    await join(w, late, snapshot(w), false);
    expect(late.topics).toEqual(['job:7']);
    w.emit(JOB);
    expect(late.seqs).toEqual([2, 3]);
    expect(first.seqs).toEqual([0, 1, 2, 3]);
  });

  it('buffers the events published while the joiner is read and sends only those above what it was served, once', async () => {
    const w = new FanOutWorld();
    const first = w.socket(JOB, 'first');
    await join(w, first, snapshot(w));
    w.emit(JOB); // 1
    const gate = deferred<void>();
    const joiner = w.socket(JOB, 'joiner');
    const joining = join(
      w,
      joiner,
      async () => {
        const served = await snapshot(w)(); // seq 1
        await gate.promise;
        return served;
      },
      false,
    );
    await settle();
    w.emit(JOB); // 2, buffered
    w.emit(JOB); // 3, buffered
    gate.resolve();
    expect(await joining).toBe(true);
    expect(joiner.seqs).toEqual([1, 2, 3]);
    expect(joiner.topics).toEqual(['job:7']);
    w.emit(JOB);
    expect(joiner.seqs).toEqual([1, 2, 3, 4]);
  });

  it('sends the one event published while the joiner was read, once', async () => {
    const w = new FanOutWorld();
    await join(w, w.socket(JOB, 'first'), snapshot(w));
    const gate = deferred<void>();
    const joiner = w.socket(JOB, 'joiner');
    const joining = join(
      w,
      joiner,
      async () => {
        const served = await snapshot(w)(); // seq 0
        await gate.promise;
        return served;
      },
      false,
    );
    await settle();
    w.emit(JOB); // 1, buffered
    gate.resolve();
    expect(await joining).toBe(true);
    expect(joiner.seqs).toEqual([0, 1]);
    expect(joiner.topics).toEqual(['job:7']);
  });

  it('drops buffered events at or below the seq the joiner was served (its read saw them)', async () => {
    const w = new FanOutWorld();
    const first = w.socket(JOB, 'first');
    await join(w, first, snapshot(w));
    const joiner = w.socket(JOB, 'joiner');
    const joining = join(
      w,
      joiner,
      async () => {
        await settle();
        return snapshot(w)(); // read after 1 and 2 were published
      },
      false,
    );
    w.emit(JOB);
    w.emit(JOB);
    await joining;
    expect(joiner.seqs).toEqual([2]);
    w.emit(JOB);
    expect(joiner.seqs).toEqual([2, 3]);
  });

  it('a joiner served beyond the forwarded seq is sent the next events directly until the channel catches up', async () => {
    const w = new FanOutWorld();
    const first = w.socket(JOB, 'first');
    await join(w, first, snapshot(w));
    w.emit(JOB); // forwarded 1
    w.eventLog.append(JOB); // 2 written, its message still on the way
    const joiner = w.socket(JOB, 'joiner');
    await join(w, joiner, snapshot(w), false); // served 2
    expect(joiner.topics).toEqual([]);
    w.subscriber.message(payload(JOB, 2)); // reaches the channel: joiner already has it
    expect(joiner.seqs).toEqual([2]);
    expect(joiner.topics).toEqual(['job:7']);
    w.emit(JOB);
    expect(joiner.seqs).toEqual([2, 3]);
  });

  it('a joiner served ahead of a channel that has not forwarded anything gets the next event directly, once', async () => {
    const w = new FanOutWorld();
    w.eventLog.append(JOB);
    w.eventLog.append(JOB); // stream at 2 before any local client
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    expect(a.seqs).toEqual([2]);
    w.emit(JOB);
    expect(a.seqs).toEqual([2, 3]);
    expect(a.topics).toEqual(['job:7']);
    w.emit(JOB);
    expect(a.seqs).toEqual([2, 3, 4]);
  });

  it('sends a refusal and closes with its code, serving nothing else', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const ok = await join(w, a, async () => ({ frames: ['{"job_id":7,"seq":0,"event_type":"job_failed"}'], close: { code: CLOSE_CODES.NOT_FOUND, reason: 'Job 7 not found' } }));
    expect(ok).toBe(false);
    expect(a.seqs).toEqual([0]);
    expect(a.close_).toEqual({ code: CLOSE_CODES.NOT_FOUND, reason: 'Job 7 not found' });
    expect(w.channels.activeJobs).toBe(0);
    expect(w.subscriber.unsubscribeCalls).toEqual([[w.keys.jobChannel(JOB)]]);
  });

  it('closes a joiner with 4003 when its read fails, and keeps the other clients', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    const b = w.socket(JOB, 'b');
    expect(await join(w, b, () => Promise.reject(new Error('redis down')), false)).toBe(false);
    expect(b.close_).toEqual({ code: CLOSE_CODES.UNAVAILABLE, reason: 'event stream unavailable, retry' });
    w.emit(JOB);
    expect(a.seqs).toEqual([0, 1]);
    expect(b.seqs).toEqual([]);
    expect(w.channels.activeJobs).toBe(1);
  });

  it('closes joiners with 4003 when SUBSCRIBE fails, rolls the channel back, and the next client subscribes again', async () => {
    const w = new FanOutWorld();
    w.subscriber.nextSubscribe = Promise.reject(new Error('subscribe failed'));
    const a = w.socket(JOB, 'a');
    const b = w.socket(JOB, 'b');
    const results = await Promise.all([join(w, a, snapshot(w)), join(w, b, snapshot(w))]);
    expect(results).toEqual([false, false]);
    expect([a.close_?.code, b.close_?.code]).toEqual([CLOSE_CODES.UNAVAILABLE, CLOSE_CODES.UNAVAILABLE]);
    expect(w.channels.activeJobs).toBe(0);
    expect(w.eventLog.reads).toEqual([]); // never read before the subscription is live
    expect(w.subscriber.unsubscribeCalls).toEqual([]); // rolled back: nothing to unsubscribe
    const c = w.socket(JOB, 'c');
    expect(await join(w, c, snapshot(w))).toBe(true);
    expect(w.subscriber.subscribeCalls.length).toBe(2);
    w.emit(JOB);
    expect(c.seqs).toEqual([0, 1]);
  });

  it('does not roll back a newer channel of the job when an old failed subscription settles late', async () => {
    const w = new FanOutWorld();
    const gate = deferred<unknown>();
    w.subscriber.nextSubscribe = gate.promise;
    const a = w.socket(JOB, 'a');
    const joiningA = join(w, a, snapshot(w));
    a.close(1000, 'bye'); // last out: channel forgotten while its SUBSCRIBE is pending
    const b = w.socket(JOB, 'b');
    const joiningB = join(w, b, snapshot(w)); // a new channel
    gate.reject(new Error('late failure'));
    expect(await joiningA).toBe(false);
    expect(await joiningB).toBe(true);
    expect(w.channels.activeJobs).toBe(1);
  });

  it('returns false and serves nothing to a socket that closed while it was read', async () => {
    const w = new FanOutWorld();
    const keep = w.socket(JOB, 'keep');
    await join(w, keep, snapshot(w));
    const a = w.socket(JOB, 'a');
    const ok = await join(w, a, async () => {
      a.close(1000, 'gone');
      return snapshot(w)();
    }, false);
    expect(ok).toBe(false);
    expect(a.frames).toEqual([]);
    w.emit(JOB);
    expect(keep.seqs).toEqual([0, 1]);
  });

  it('a joiner whose socket closes after its frames were sent does not join the topic', async () => {
    const w = new FanOutWorld();
    const first = w.socket(JOB, 'first');
    await join(w, first, snapshot(w));
    w.emit(JOB);
    const a = w.socket(JOB, 'a');
    // A send that hits the backpressure limit closes the socket itself.
    a.send = function (this: FakeSocket, frames) {
      this.frames.push(...frames);
      this.close(CLOSE_CODES.SLOW_CONSUMER, 'slow');
    };
    expect(await join(w, a, snapshot(w), false)).toBe(false);
    expect(a.topics).toEqual([]);
  });
});

describe('JobChannels: shared snapshots (a connect storm reads once)', () => {
  it('serves the next plain joiner the same snapshot while nothing newer was forwarded', async () => {
    const w = new FanOutWorld();
    const reads = { n: 0 };
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w, JOB, reads));
    w.emit(JOB); // 1: forwarded above the shared snapshot (seq 0) → next joiner reads again
    const b = w.socket(JOB, 'b');
    await join(w, b, snapshot(w, JOB, reads));
    const c = w.socket(JOB, 'c');
    await join(w, c, snapshot(w, JOB, reads)); // snapshot 1 still exact
    expect(reads.n).toBe(2);
    expect(b.seqs).toEqual([1]);
    expect(c.seqs).toEqual([1]);
    w.emit(JOB);
    for (const s of [a, b, c]) expect(s.seqs.at(-1), s.name).toBe(2);
  });

  it('does not offer what a resuming joiner was served, nor a refusal, to the next plain joiner', async () => {
    const w = new FanOutWorld();
    await join(w, w.socket(JOB, 'first'), snapshot(w));
    for (let i = 0; i < 3; i++) w.emit(JOB);
    const resumer = w.socket(JOB, 'resumer');
    await join(w, resumer, resume(w, 1), false);
    expect(resumer.seqs).toEqual([2, 3]);
    const refused = w.socket(JOB, 'refused');
    await join(w, refused, async () => ({ frames: [], close: { code: 4400, reason: 'no' } }), true);
    const plain = w.socket(JOB, 'plain');
    await join(w, plain, snapshot(w));
    expect(plain.seqs).toEqual([3]);
    expect(String(plain.frames[0])).toContain('"snapshot":true');
  });

  it('does not share a snapshot with a resuming joiner', async () => {
    const w = new FanOutWorld();
    const reads = { n: 0 };
    await join(w, w.socket(JOB), snapshot(w, JOB, reads));
    await join(w, w.socket(JOB), snapshot(w, JOB, reads), false);
    expect(reads.n).toBe(2);
  });

  it('does not reuse a snapshot read before the subscriber connection dropped', async () => {
    const w = new FanOutWorld();
    const reads = { n: 0 };
    await join(w, w.socket(JOB), snapshot(w, JOB, reads));
    w.subscriber.drop();
    await join(w, w.socket(JOB), snapshot(w, JOB, reads));
    expect(reads.n).toBe(2);
  });

  it('does not reuse a snapshot while the channel recovers a gap', async () => {
    const w = new FanOutWorld();
    const reads = { n: 0 };
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w, JOB, reads));
    w.emit(JOB); // 1
    await join(w, w.socket(JOB), snapshot(w, JOB, reads)); // shared at 1
    const gate = deferred<void>();
    w.eventLog.nextRead = gate.promise;
    w.eventLog.append(JOB); // 2 lost
    w.emit(JOB); // 3: gap → recovering
    const c = w.socket(JOB, 'c');
    const joiningC = join(w, c, snapshot(w, JOB, reads));
    await settle();
    gate.resolve();
    await joiningC;
    expect(reads.n).toBe(3);
    await settle();
    expect(a.seqs).toEqual([0, 1, 2, 3]);
    expect(c.seqs).toEqual([3]);
  });
});

describe('JobChannels: long catch-ups', () => {
  it('paces a long history and sends what was published meanwhile, in order, once', async () => {
    const w = new FanOutWorld();
    const live = w.socket(JOB, 'live');
    await join(w, live, snapshot(w));
    for (let i = 0; i < 200; i++) w.emit(JOB);
    const r = w.socket(JOB, 'resumer');
    let rounds = 0;
    r.duringPaced = () => {
      rounds += 1;
      // While the client reads its backlog the job keeps publishing: 100 more in the first round.
      if (rounds === 1) for (let i = 0; i < 100; i++) w.emit(JOB);
      if (rounds === 2) w.emit(JOB);
    };
    expect(await w.channels.attach(JOB, r, resume(w, 0), { shareable: false })).toBe(true);
    expect(r.pacedSends).toEqual([200, 100]);
    w.emit(JOB);
    expect(r.seqs).toEqual(range(1, 302));
    expect(live.seqs).toEqual([0, ...range(1, 302)]);
  });

  it('paces a long history with nothing published meanwhile, then goes live', async () => {
    const w = new FanOutWorld();
    await join(w, w.socket(JOB), snapshot(w));
    for (let i = 0; i < 100; i++) w.emit(JOB);
    const r = w.socket(JOB, 'resumer');
    expect(await w.channels.attach(JOB, r, resume(w, 0), { shareable: false })).toBe(true);
    expect(r.pacedSends).toEqual([100]);
    expect(r.topics).toEqual(['job:7']);
    w.emit(JOB);
    expect(r.seqs).toEqual(range(1, 101));
  });

  it('stops when the socket closes during a paced send', async () => {
    const w = new FanOutWorld();
    await join(w, w.socket(JOB), snapshot(w));
    for (let i = 0; i < 100; i++) w.emit(JOB);
    const r = w.socket(JOB, 'resumer');
    r.duringPaced = () => r.close(CLOSE_CODES.SLOW_CONSUMER, 'slow');
    expect(await w.channels.attach(JOB, r, resume(w, 0), { shareable: false })).toBe(false);
    expect(r.topics).toEqual([]);
  });

  it('sends a backlog of at most 64 in one go, without pacing', async () => {
    const w = new FanOutWorld();
    await join(w, w.socket(JOB), snapshot(w));
    for (let i = 0; i < 64; i++) w.emit(JOB);
    const r = w.socket(JOB, 'resumer');
    await w.channels.attach(JOB, r, resume(w, 0), { shareable: false });
    expect(r.pacedSends).toEqual([]);
    expect(r.seqs).toEqual(range(1, 64));
  });

  it('gives up pacing after 20 rounds and sends the rest in one batch', async () => {
    const w = new FanOutWorld();
    await join(w, w.socket(JOB), snapshot(w));
    for (let i = 0; i < 65; i++) w.emit(JOB);
    const r = w.socket(JOB, 'resumer');
    r.duringPaced = () => {
      for (let i = 0; i < 65; i++) w.emit(JOB); // a job always faster than the client
    };
    await w.channels.attach(JOB, r, resume(w, 0), { shareable: false });
    expect(r.pacedSends.length).toBe(20);
    expect(r.seqs).toEqual(range(1, 65 * 21));
    expect(r.topics).toEqual(['job:7']);
  });
});

describe('JobChannels: leaving', () => {
  it('unsubscribes when the last client leaves, not before, and ignores unknown sockets', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const b = w.socket(JOB, 'b');
    await join(w, a, snapshot(w));
    await join(w, b, snapshot(w));
    w.channels.detach(JOB, w.socket(JOB, 'stranger'));
    w.channels.detach(123, a);
    a.close(1000, 'bye');
    expect(w.subscriber.unsubscribeCalls).toEqual([]);
    expect(w.channels.activeJobs).toBe(1);
    b.close(1000, 'bye');
    expect(w.subscriber.unsubscribeCalls).toEqual([[w.keys.jobChannel(JOB)]]);
    expect(w.channels.activeJobs).toBe(0);
    w.channels.detach(JOB, b); // twice: nothing more
    expect(w.subscriber.unsubscribeCalls.length).toBe(1);
  });

  it('survives a failing UNSUBSCRIBE', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    w.subscriber.nextUnsubscribe = Promise.reject(new Error('connection lost'));
    a.close(1000, 'bye');
    await settle();
    expect(w.channels.activeJobs).toBe(0);
  });

  it('a joiner that leaves mid-read is never sent anything', async () => {
    const w = new FanOutWorld();
    const keep = w.socket(JOB, 'keep');
    await join(w, keep, snapshot(w));
    const gate = deferred<void>();
    const a = w.socket(JOB, 'a');
    const joining = join(w, a, async () => {
      await gate.promise;
      return snapshot(w)();
    }, false);
    await settle();
    a.close(1000, 'bye');
    w.emit(JOB);
    gate.resolve();
    expect(await joining).toBe(false);
    expect(a.frames).toEqual([]);
    expect(keep.seqs).toEqual([0, 1]);
  });

  it('lists every local client of every job, joining or live', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const b = w.socket(8, 'b');
    await join(w, a, snapshot(w));
    await w.channels.attach(8, b, snapshot(w, 8), { shareable: true });
    const gate = deferred<void>();
    const c = w.socket(JOB, 'c, joining');
    const joining = join(w, c, async () => {
      await gate.promise;
      return snapshot(w)();
    });
    expect(w.channels.sockets()).toEqual([a, c, b]);
    gate.resolve();
    await joining;
    a.close(1000, 'bye');
    expect(w.channels.sockets()).toEqual([c, b]);
  });
});

describe('JobChannels: duplicates and restarted streams', () => {
  it('drops a duplicate of the same stream', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    const first = w.emit(JOB);
    w.subscriber.message(first);
    w.emit(JOB);
    expect(a.seqs).toEqual([0, 1, 2]);
    expect(w.channels.stats.duplicatesDropped).toBe(1);
    expect(w.channels.stats.resyncs).toBe(0);
  });

  it('closes every client with 4000 when the stream restarts at or below what was forwarded, then serves the new stream', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const b = w.socket(JOB, 'b');
    await join(w, a, snapshot(w));
    await join(w, b, snapshot(w));
    w.emit(JOB);
    w.emit(JOB);
    w.emit(JOB, 'E2'); // seq 1 of a new epoch
    expect([a.close_, b.close_]).toEqual([0, 1].map(() => ({ code: CLOSE_CODES.RESYNC, reason: "the job's event stream restarted" })));
    expect(a.seqs).toEqual([0, 1, 2]);
    expect(w.channels.stats).toMatchObject({ resyncs: 1, duplicatesDropped: 0 });
    // A client joining afterwards starts from the new stream, with no memory of the old one.
    const c = w.socket(JOB, 'c');
    await join(w, c, snapshot(w));
    w.emit(JOB, 'E2');
    expect(c.seqs).toEqual([1, 2]);
  });
});

describe('JobChannels: gap recovery', () => {
  async function liveAt(w: FanOutWorld, n: number, clients = 2): Promise<FakeSocket[]> {
    const sockets = Array.from({ length: clients }, (_, i) => w.socket(JOB, `client ${i}`));
    for (const s of sockets) await join(w, s, snapshot(w));
    for (let i = 0; i < n; i++) w.emit(JOB);
    return sockets;
  }

  it('fills a seq gap from history, then releases what arrived meanwhile, in order, once', async () => {
    const w = new FanOutWorld();
    const sockets = await liveAt(w, 2);
    const gate = deferred<void>();
    w.eventLog.nextRead = gate.promise;
    w.eventLog.append(JOB); // 3 lost
    w.eventLog.append(JOB); // 4 lost
    w.emit(JOB); // 5: gap
    w.emit(JOB); // 6: held
    w.subscriber.message(payload(JOB, 5)); // a duplicate among the held
    expect(sockets[0]!.seqs).toEqual([0, 1, 2]);
    expect(w.eventLog.reads.at(-1)).toEqual({ jobId: JOB, afterSeq: 2 });
    gate.resolve();
    await settle();
    for (const s of sockets) expect(s.seqs, s.name).toEqual([0, ...range(1, 6)]);
    // History served 3..6; the held 5, 6 and the repeated 5 are duplicates.
    expect(w.channels.stats).toMatchObject({ gapsRecovered: 1, resyncs: 0, duplicatesDropped: 3 });
    w.emit(JOB);
    expect(sockets[1]!.seqs.at(-1)).toBe(7);
  });

  it('a joiner waiting during recovery gets the recovered events it lacks, once', async () => {
    const w = new FanOutWorld();
    await liveAt(w, 2, 1);
    const gate = deferred<void>();
    w.eventLog.nextRead = gate.promise;
    w.eventLog.append(JOB); // 3 lost
    w.emit(JOB); // 4: gap, read held
    const j = w.socket(JOB, 'joiner');
    await join(w, j, resume(w, 1), false); // served 2..4 from history
    expect(j.topics).toEqual([]);
    gate.resolve();
    await settle();
    expect(j.topics).toEqual(['job:7']);
    w.emit(JOB);
    expect(j.seqs).toEqual([2, 3, 4, 5]);
  });

  it('ignores history events that do not continue the forwarded seq', async () => {
    const w = new FanOutWorld();
    const [a] = await liveAt(w, 3, 1);
    // The history answers from further back than asked (a read that raced the channel): only 4.. pass.
    const realRead = w.eventLog.read.bind(w.eventLog);
    w.eventLog.read = async (jobId, _after) => realRead(jobId, 1);
    w.eventLog.append(JOB); // 4 lost
    w.emit(JOB); // 5
    await settle();
    expect(a!.seqs).toEqual([0, 1, 2, 3, 4, 5]);
    // 2 and 3 of the history were skipped, not delivered and dropped; only the held 5 was a duplicate.
    expect(w.channels.stats.duplicatesDropped).toBe(1);
  });

  it('resyncs (4000) when history no longer holds the gap', async () => {
    const w = new FanOutWorld({ maxEvents: 2 });
    const sockets = await liveAt(w, 2);
    for (let i = 0; i < 3; i++) w.eventLog.append(JOB); // 3..5 lost; history holds 4, 5
    w.emit(JOB); // 6 (history now 5, 6)
    await settle();
    for (const s of sockets) {
      expect(s.close_, s.name).toEqual({ code: CLOSE_CODES.RESYNC, reason: 'history no longer holds the missed events' });
      expect(s.seqs, s.name).toEqual([0, 1, 2]);
    }
    expect(w.channels.stats).toMatchObject({ gapsRecovered: 0, resyncs: 1 });
  });

  it('reads again when the history read fails once (Redis just came back), and fills the gap', async () => {
    const w = new FanOutWorld();
    const [a] = await liveAt(w, 1, 1);
    const failing = Promise.reject(new Error('Connection is closed.'));
    failing.catch(() => undefined); // awaited by the read a turn later
    w.eventLog.nextRead = failing;
    w.eventLog.append(JOB);
    w.emit(JOB);
    await expect.poll(() => a!.seqs, { timeout: 2000 }).toEqual([0, 1, 2, 3]);
    expect(a!.close_).toBeNull();
    expect(w.channels.stats).toMatchObject({ gapsRecovered: 1, resyncs: 0 });
  });

  it('resyncs (4000) when the history read keeps failing', async () => {
    const w = new FanOutWorld();
    const [a] = await liveAt(w, 1, 1);
    w.eventLog.failReads = new Error('redis down');
    w.eventLog.append(JOB);
    w.emit(JOB);
    await expect.poll(() => a!.close_, { timeout: 5000 }).toEqual({ code: CLOSE_CODES.RESYNC, reason: 'event stream interrupted' });
    expect(w.channels.stats.resyncs).toBe(1);
  });
});

describe('JobChannels: subscriber connection lost and back', () => {
  it('resubscribes every held channel and fills what was published while it was down', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const b = w.socket(8, 'b');
    await join(w, a, snapshot(w));
    await w.channels.attach(8, b, snapshot(w, 8), { shareable: true });
    w.emit(JOB);
    w.emit(8);
    w.subscriber.drop();
    w.eventLog.append(JOB);
    w.eventLog.append(JOB);
    w.eventLog.append(8);
    w.subscriber.reconnect();
    await settle();
    expect(w.subscriber.subscribeCalls.at(-1)).toEqual([w.keys.jobChannel(JOB), w.keys.jobChannel(8)]);
    expect(a.seqs).toEqual([0, 1, 2, 3]);
    expect(b.seqs).toEqual([0, 1, 2]);
    expect(w.channels.stats).toMatchObject({ gapsRecovered: 2, resyncs: 0 });
  });

  it('counts a recovery with nothing missed, and delivers nothing twice', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    w.emit(JOB);
    w.subscriber.drop();
    w.subscriber.reconnect();
    await settle();
    w.emit(JOB);
    expect(a.seqs).toEqual([0, 1, 2]);
    expect(w.channels.stats.gapsRecovered).toBe(1);
  });

  it('a stream Redis lost entirely is continued by its next event', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    w.emit(JOB);
    w.subscriber.drop();
    w.eventLog.streams.delete(JOB);
    w.subscriber.reconnect();
    await settle();
    expect(a.closed).toBe(false);
    w.subscriber.message(payload(JOB, 2, 'E2'));
    expect(a.seqs).toEqual([0, 1, 2]);
  });

  it('does nothing when it holds no channel', async () => {
    const w = new FanOutWorld();
    w.subscriber.drop();
    w.subscriber.reconnect();
    await settle();
    expect(w.subscriber.subscribeCalls).toEqual([]);
  });

  it('waits for the next reconnect when the resubscribe fails', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    await join(w, a, snapshot(w));
    w.emit(JOB);
    w.subscriber.drop();
    w.eventLog.append(JOB);
    w.subscriber.nextSubscribe = Promise.reject(new Error('still down'));
    w.subscriber.reconnect();
    await settle();
    expect(w.eventLog.reads.length).toBe(1); // only the join's read: no recovery without the subscription
    expect(a.seqs).toEqual([0, 1]);
    w.subscriber.reconnect();
    await settle();
    expect(a.seqs).toEqual([0, 1, 2]);
  });

  it('tells the clients of a channel that had forwarded nothing to resync: a gap there would pass unnoticed', async () => {
    const w = new FanOutWorld();
    const waiting = w.socket(8, 'served seq 0, waiting for seq 1');
    await w.channels.attach(8, waiting, snapshot(w, 8), { shareable: true });
    const gate = deferred<void>();
    const j = w.socket(JOB, 'joiner mid-read');
    const joining = join(w, j, async () => {
      await gate.promise;
      return snapshot(w)();
    });
    await settle();
    w.subscriber.drop();
    w.eventLog.append(8); // missed: with nothing forwarded, seq 2 would look like a first event
    w.subscriber.reconnect();
    await settle();
    gate.resolve();
    expect(await joining).toBe(false);
    expect(j.close_).toEqual({ code: CLOSE_CODES.RESYNC, reason: 'event stream interrupted while joining' });
    expect(waiting.close_?.code).toBe(CLOSE_CODES.RESYNC);
    expect(waiting.seqs).toEqual([0]);
    expect(w.channels.stats.resyncs).toBe(2);
  });

  it('skips a channel that is already recovering, or was released before the resubscribe answered', async () => {
    const w = new FanOutWorld();
    const a = w.socket(JOB, 'a');
    const b = w.socket(8, 'b');
    await join(w, a, snapshot(w));
    await w.channels.attach(8, b, snapshot(w, 8), { shareable: true });
    w.emit(JOB);
    w.emit(8);
    const readGate = deferred<void>();
    w.eventLog.nextRead = readGate.promise;
    w.eventLog.append(JOB);
    w.emit(JOB); // 3: gap on JOB, its read held
    const subscribeGate = deferred<unknown>();
    w.subscriber.nextSubscribe = subscribeGate.promise;
    w.subscriber.drop();
    w.subscriber.reconnect();
    b.close(1000, 'bye'); // job 8 released while the resubscribe is pending
    subscribeGate.resolve(2);
    await settle();
    const readsAfterReconnect = w.eventLog.reads.filter((r) => r.afterSeq !== undefined).length;
    expect(readsAfterReconnect).toBe(1); // the gap's own read only
    readGate.resolve();
    await settle();
    expect(a.seqs).toEqual([0, 1, 2, 3]);
    expect(w.channels.stats.gapsRecovered).toBe(1);
  });
});
