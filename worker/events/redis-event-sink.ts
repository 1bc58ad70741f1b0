import { randomBytes } from 'node:crypto';
import { eventDraftSchema, type EventDraft } from '../../shared/events.js';
import { MAX_EVENTS_PER_APPEND, type AppendReply, type JobEventLog } from '../../shared/redis/job-event-log.js';
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
  /** Emits of this tick, sent together at its end. */
  waiting: Waiting[];
}

export interface RedisEventSinkOptions {
  /**
   * Send a job's emits without waiting for the previous ones (one connection keeps their order),
   * several of one tick in one script call. False: one emit per call, each after the previous
   * one's reply (the way to measure what pipelining buys).
   */
  pipeline: boolean;
}

/**
 * Job events in Redis through the atomic emit script of JobEventLog.
 *
 * Pipelined (the default): the emits a job makes in one tick go out in one script call at the
 * end of the tick, and calls go out without waiting for earlier ones. One connection executes
 * commands in order, with one exception: ioredis sends a script as EVALSHA and re-sends it as
 * EVAL after NOSCRIPT (Redis restarted or flushed its script cache), and a later call can then
 * overtake it. The script refuses such a call ('order': the writer's previous call has not run)
 * and changes nothing; the sink re-sends it once every earlier call has settled, so seqs still
 * follow call order. Emits of different jobs run independently.
 */
export class RedisEventSink implements JobEventSink {
  private readonly jobs = new Map<number, JobMemory>();
  private readonly tokenPrefix = randomBytes(6).toString('base64url');
  private tokens = 0;

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
      if (job.waiting.length === 1) queueMicrotask(() => this.flush(jobId, job));
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

  private flush(jobId: number, job: JobMemory): void {
    const waiting = job.waiting;
    job.waiting = [];
    for (let i = 0; i < waiting.length; i += MAX_EVENTS_PER_APPEND) {
      this.send(jobId, job, waiting.slice(i, i + MAX_EVENTS_PER_APPEND), true);
    }
  }

  /** One script call for `batch`; pipelined, or after the previous call settled. */
  private send(jobId: number, job: JobMemory, batch: Waiting[], pipelined: boolean): void {
    const index = ++job.lastIndex;
    const earlier = job.tail;
    const drafts = batch.map((w) => w.draft);
    const call = async (previous: number | undefined): Promise<AppendReply> => {
      try {
        return await this.log.appendMany(jobId, drafts, job.highestSeq, { token: job.token, index, previous }, job.identity);
      } catch (error) {
        // NOSCRIPT after ioredis' own re-send (the cache was flushed again meanwhile): the call
        // did not run, like a refused one.
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return { kind: 'order', done: null };
        throw error;
      }
    };
    const settled = (async () => {
      if (!pipelined) await earlier;
      let reply = await call(pipelined && index > 1 ? index - 1 : undefined);
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
      job = { token: `${this.tokenPrefix}.${++this.tokens}`, identity: '', highestSeq: 0, lastIndex: 0, tail: Promise.resolve(), waiting: [] };
      this.jobs.set(jobId, job);
    }
    return job;
  }
}
