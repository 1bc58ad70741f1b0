import type { EventDraft } from '../../shared/events.js';
import type { JobEventLog } from '../../shared/redis/job-event-log.js';
import type { EmittedEvent, JobEventSink, StreamHead } from './job-event-sink.js';

interface JobMemory {
  /** Highest seq this worker got or was told about for the job: the floor of the next emit. */
  highestSeq: number;
  /** The job's last emit; the next one starts after it settles. */
  tail: Promise<unknown>;
}

/**
 * Job events in Redis through the atomic emit script of JobEventLog.
 *
 * Emits of one job are chained: each starts when the previous one settled. One ioredis connection
 * already preserves command order, but ioredis sends a script as EVALSHA and re-sends it as EVAL
 * after NOSCRIPT (Redis restarted or flushed its script cache), and that re-send can overtake a
 * later emit. Chaining also makes the seq floor passed to each emit the highest seq seen so far.
 * Emits of different jobs run independently.
 */
export class RedisEventSink implements JobEventSink {
  private readonly jobs = new Map<number, JobMemory>();

  constructor(private readonly log: JobEventLog) {}

  emit(jobId: number, draft: EventDraft): Promise<EmittedEvent> {
    const job = this.memoryOf(jobId);
    const emitted = job.tail.then(() => this.log.append(jobId, draft, job.highestSeq));
    job.tail = emitted.then(
      (event) => {
        job.highestSeq = Math.max(job.highestSeq, event.seq);
      },
      // The caller gets the rejection; the chain only needs to know this emit is over.
      () => undefined,
    );
    return emitted;
  }

  async head(jobId: number): Promise<StreamHead | null> {
    const { state } = await this.log.read(jobId);
    return state ? { seq: state.seq, status: state.status, eventType: state.event_type } : null;
  }

  raiseSeqFloor(jobId: number, seq: number): void {
    const job = this.memoryOf(jobId);
    job.highestSeq = Math.max(job.highestSeq, seq);
  }

  release(jobId: number): void {
    this.jobs.delete(jobId);
  }

  private memoryOf(jobId: number): JobMemory {
    let job = this.jobs.get(jobId);
    if (!job) this.jobs.set(jobId, (job = { highestSeq: 0, tail: Promise.resolve() }));
    return job;
  }
}
