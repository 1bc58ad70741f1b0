import { randomBytes } from 'node:crypto';
import { eventDraftSchema, type EventDraft } from '../../shared/events.js';
import {
  MAX_EVENTS_PER_APPEND,
  MAX_EVENTS_PER_CALL,
  MAX_SECTIONS_PER_APPEND,
  type AppendReply,
  type JobEventLog,
} from '../../shared/redis/job-event-log.js';
import type { EmittedEvent, JobEventSink, StreamHead } from './job-event-sink.js';

/** Re-sends of a call that did not run (refused out of order, or NOSCRIPT twice) before it fails. */
const MAX_RESENDS = 5;

interface Waiting {
  draft: EventDraft;
  resolve(event: EmittedEvent): void;
  reject(error: unknown): void;
}

interface JobMemory {
  /** This memory's writer token: the emit script tells its calls apart from any other writer's. */
  token: string;
  /** The job row's identity the stream is bound to ('' until bound). */
  identity: string;
  /** Highest seq this worker got or was told about for the job: the floor of the next emit. */
  highestSeq: number;
  /** Index of the last call sent for the job (calls are numbered 1, 2, 3 …). */
  lastIndex: number;
  /** Settles when the last call sent has settled (applied, refused for good, or failed). */
  tail: Promise<unknown>;
  /** Emits not sent yet: at the end of the tick, or once the calls they wait for are answered. */
  waiting: Waiting[];
  /** Shared calls sent with a section of this job and not answered yet. */
  callsInFlight: number;
}

/** One job's part of a shared script call, sent when the tick's calls go out. */
interface Section {
  jobId: number;
  job: JobMemory;
  drafts: EventDraft[];
  index: number;
  previous: number | undefined;
  settle(reply: AppendReply | Error): void;
}

/** One script call being filled with the sections of this tick's jobs. */
interface CallGroup {
  sections: Section[];
  events: number;
}

export interface RedisEventSinkOptions {
  /**
   * Send a job's emits without waiting for each one's reply: every emit made while earlier calls
   * are answered goes in the next call (one connection keeps their order). False: one emit per
   * call, each after the previous one's reply (the way to measure what this buys).
   */
  pipeline: boolean;
  /** Told of every script call the sink sends: how many jobs (sections) and events it carries. */
  onCall?(sections: number, events: number): void;
}

/**
 * Job events in Redis through the atomic emit script of JobEventLog.
 *
 * Pipelined (the default), as a group commit: emits go out at the end of the tick (setImmediate),
 * a job's in one section of a script call; on a single Redis the sections of several jobs share
 * one call (a call's cost to Redis is mostly fixed, whatever it carries), at most one section a
 * job a call, so a job's calls stay in order. While a call is in flight, new emits wait for its
 * reply and then all go in the next call: on a single Redis while any call of the sink is in
 * flight, on a cluster (one job a call) while one of that job's is. An idle sink sends at once;
 * a busy one sends fewer, fuller calls, so Redis spends less per event exactly when it has the
 * most to do, and an emit waits at most one call's round trip. Each section has its own reply,
 * so what follows is per job as if it had a call of its own. One connection executes
 * commands in order, with one exception: ioredis sends a script as EVALSHA and re-sends it as
 * EVAL after NOSCRIPT (Redis restarted or flushed its script cache), and a later call can then
 * overtake it. The script refuses such a call ('order': the writer's previous call has not run)
 * and changes nothing; the sink re-sends it once every earlier call has settled, so seqs still
 * follow call order. Emits of different jobs run independently.
 */
export class RedisEventSink implements JobEventSink {
  private readonly jobs = new Map<number, JobMemory>();
  /** Jobs with emits waiting for the end of this tick, in the order they first emitted. */
  private readonly due = new Map<number, JobMemory>();
  private readonly tokenPrefix = randomBytes(6).toString('base64url');
  private tokens = 0;
  /** Shared calls sent and not answered yet (the hold of a single Redis). */
  private callsInFlight = 0;
  private flushScheduled = false;

  constructor(
    private readonly log: JobEventLog,
    private readonly options: RedisEventSinkOptions = { pipeline: true },
  ) {}

  emit(jobId: number, draft: EventDraft): Promise<EmittedEvent> {
    let parsed: EventDraft;
    try {
      parsed = eventDraftSchema.parse(draft);
    } catch (error) {
      return Promise.reject(error);
    }
    const job = this.memoryOf(jobId);
    return new Promise<EmittedEvent>((resolve, reject) => {
      const waiting = { draft: parsed, resolve, reject };
      if (!this.options.pipeline) {
        this.send(jobId, job, [waiting], false);
        return;
      }
      job.waiting.push(waiting);
      this.due.set(jobId, job);
      this.scheduleFlush();
    });
  }

  async head(jobId: number): Promise<StreamHead | null> {
    const { state } = await this.log.read(jobId);
    const identity = this.jobs.get(jobId)?.identity ?? '';
    if (state && identity !== '' && state.identity !== identity) return null; // another row's stream
    return state ? { seq: state.seq, status: state.status, eventType: state.event_type } : null;
  }

  raiseSeqFloor(jobId: number, seq: number): void {
    const job = this.memoryOf(jobId);
    job.highestSeq = Math.max(job.highestSeq, seq);
  }

  bindIdentity(jobId: number, identity: string): void {
    this.memoryOf(jobId).identity = identity;
  }

  release(jobId: number): void {
    this.jobs.delete(jobId);
  }

  /** A flush at the end of this tick, unless one is coming or the calls in flight hold it. */
  private scheduleFlush(): void {
    if (this.flushScheduled || (this.log.batchesJobs && this.callsInFlight > 0)) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * The end of the tick (setImmediate: after the I/O callbacks of this turn of the event loop, in
   * which many jobs' scrapers may have answered), or the reply that released the hold: every due
   * job's emits go out (on a cluster those of jobs without a call in flight), one section per job
   * in the first call that has room and none of its sections yet, further sections of a job (more
   * than MAX_EVENTS_PER_APPEND events) each in a later call. Calls go out in order.
   */
  private flush(): void {
    this.flushScheduled = false;
    if (this.log.batchesJobs && this.callsInFlight > 0) return; // the last reply flushes
    const groups: CallGroup[] = [];
    const maxSections = this.log.batchesJobs ? MAX_SECTIONS_PER_APPEND : 1;
    for (const [jobId, job] of this.due) {
      if (job.callsInFlight > 0) continue; // its call's reply flushes
      this.due.delete(jobId);
      const waiting = job.waiting;
      job.waiting = [];
      let from = 0;
      for (let i = 0; i < waiting.length; i += MAX_EVENTS_PER_APPEND) {
        const batch = waiting.slice(i, i + MAX_EVENTS_PER_APPEND);
        let g = from;
        while (g < groups.length && (groups[g]!.sections.length >= maxSections || groups[g]!.events + batch.length > MAX_EVENTS_PER_CALL)) g++;
        if (g === groups.length) groups.push({ sections: [], events: 0 });
        this.send(jobId, job, batch, true, groups[g]);
        from = g + 1;
      }
    }
    for (const group of groups) this.sendGroup(group);
  }

  /** A shared call: one section goes as appendMany, as a call of its own always did. */
  private sendGroup(group: CallGroup): void {
    this.callsInFlight++;
    for (const s of group.sections) s.job.callsInFlight++;
    this.options.onCall?.(group.sections.length, group.events);
    const answered = () => {
      this.callsInFlight--;
      for (const s of group.sections) s.job.callsInFlight--;
      if (this.due.size > 0) this.scheduleFlush();
    };
    const section = (s: Section) => ({
      jobId: s.jobId,
      events: s.drafts,
      seqFloor: s.job.highestSeq,
      writer: { token: s.job.token, index: s.index, previous: s.previous },
      identity: s.job.identity,
    });
    const settleAll = (replies: Promise<(AppendReply | Error)[]>) =>
      replies.then(
        (all) => {
          answered();
          group.sections.forEach((s, i) => s.settle(all[i] ?? new Error(`emit for job ${s.jobId}: no reply for its section`)));
        },
        (error: unknown) => {
          answered();
          const reply = asOrderWhenNoScript(error);
          for (const s of group.sections) s.settle(reply);
        },
      );
    if (group.sections.length === 1) {
      const s = section(group.sections[0]!);
      void settleAll(this.log.appendMany(s.jobId, s.events, s.seqFloor, s.writer, s.identity).then((reply) => [reply]));
    } else {
      void settleAll(this.log.appendSections(group.sections.map(section)));
    }
  }

  /**
   * One script call for `batch` (a section of `group` when given); pipelined, or after the
   * previous call settled.
   */
  private send(jobId: number, job: JobMemory, batch: Waiting[], pipelined: boolean, group?: CallGroup): void {
    const index = ++job.lastIndex;
    const earlier = job.tail;
    const drafts = batch.map((w) => w.draft);
    const call = async (previous: number | undefined): Promise<AppendReply> => {
      this.options.onCall?.(1, drafts.length);
      try {
        return await this.log.appendMany(jobId, drafts, job.highestSeq, { token: job.token, index, previous }, job.identity);
      } catch (error) {
        const reply = asOrderWhenNoScript(error);
        if (reply instanceof Error) throw reply;
        return reply;
      }
    };
    const previous = pipelined && index > 1 ? index - 1 : undefined;
    let first: Promise<AppendReply> | undefined;
    if (group) {
      first = new Promise<AppendReply>((resolve, reject) => {
        const settle = (reply: AppendReply | Error) => (reply instanceof Error ? reject(reply) : resolve(reply));
        group.sections.push({ jobId, job, drafts, index, previous, settle });
        group.events += drafts.length;
      });
      // Rejections are handled below; this keeps an early one from counting as unhandled.
      first.catch(() => undefined);
    }
    const settled = (async () => {
      if (!pipelined) await earlier;
      let reply = await (first ?? call(previous));
      for (let attempt = 0; reply.kind === 'order' && attempt < MAX_RESENDS; attempt++) {
        // An earlier call of ours has not run yet: once every earlier call has settled, whatever
        // ran has run, and this one may go.
        await earlier;
        reply = await call(undefined);
      }
      if (reply.kind !== 'applied') throw new Error(`emit for job ${jobId} not applied after ${MAX_RESENDS} re-sends`);
      return reply;
    })();
    job.tail = settled.then(
      (reply) => {
        job.highestSeq = Math.max(job.highestSeq, reply.lastSeq);
        const first = reply.lastSeq - batch.length + 1;
        batch.forEach((w, i) => w.resolve({ seq: first + i, epoch: reply.epoch }));
      },
      // The callers get the rejection; the chain only needs to know this call is over.
      (error: unknown) => {
        for (const w of batch) w.reject(error);
      },
    );
  }

  private memoryOf(jobId: number): JobMemory {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = { token: `${this.tokenPrefix}.${++this.tokens}`, identity: '', highestSeq: 0, lastIndex: 0, tail: Promise.resolve(), waiting: [], callsInFlight: 0 };
      this.jobs.set(jobId, job);
    }
    return job;
  }
}

/**
 * NOSCRIPT after ioredis' own re-send (the cache was flushed again meanwhile): the call did not
 * run, like a refused one. Any other error is the call's.
 */
function asOrderWhenNoScript(error: unknown): AppendReply | Error {
  if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return { kind: 'order', done: null };
  return error instanceof Error ? error : new Error(String(error));
}
