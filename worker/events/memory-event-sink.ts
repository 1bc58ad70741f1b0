import { eventDraftSchema, scrapingEventSchema, type EventDraft, type ScrapingEvent } from '../../shared/events.js';
import type { EmittedEvent, JobEventSink, StreamHead } from './job-event-sink.js';

interface MemoryStream {
  epoch: string;
  events: ScrapingEvent[];
}

/**
 * Job events kept in this process, with the same guarantees as the Redis sink: for unit tests of
 * the orchestrator and for running a job without Redis. `lose(jobId)` simulates Redis losing a
 * job's stream.
 */
export class MemoryEventSink implements JobEventSink {
  private readonly streams = new Map<number, MemoryStream>();
  private readonly floors = new Map<number, number>();
  private epochs = 0;

  async emit(jobId: number, draft: EventDraft): Promise<EmittedEvent> {
    return this.emitNow(jobId, draft);
  }

  /** Synchronous, so call order is seq order by construction. */
  private emitNow(jobId: number, draft: EventDraft): EmittedEvent {
    const parsed = eventDraftSchema.parse(draft);
    let stream = this.streams.get(jobId);
    let seq: number;
    if (stream) {
      seq = stream.events.at(-1)!.seq + 1;
    } else {
      stream = { epoch: `mem-${++this.epochs}`, events: [] };
      this.streams.set(jobId, stream);
      seq = (this.floors.get(jobId) ?? 0) + 1;
    }
    const { epoch: _reserved, ...metadata } = parsed.metadata;
    const event = scrapingEventSchema.parse({ job_id: jobId, seq, ...parsed, metadata: { epoch: stream.epoch, ...metadata } });
    stream.events.push(event);
    this.raiseSeqFloor(jobId, seq);
    return { seq, epoch: stream.epoch };
  }

  async head(jobId: number): Promise<StreamHead | null> {
    const last = this.streams.get(jobId)?.events.at(-1);
    return last ? { seq: last.seq, status: last.status, eventType: last.event_type } : null;
  }

  raiseSeqFloor(jobId: number, seq: number): void {
    this.floors.set(jobId, Math.max(this.floors.get(jobId) ?? 0, seq));
  }

  /** One process, one store: no other row's stream can be found here. */
  bindIdentity(_jobId: number, _identity: string): void {}

  release(jobId: number): void {
    this.floors.delete(jobId);
  }

  /** The job's events, oldest first (of the current epoch). */
  events(jobId: number): ScrapingEvent[] {
    return [...(this.streams.get(jobId)?.events ?? [])];
  }

  /** Drops the job's stream, as if Redis had lost it; the floors stay. */
  lose(jobId: number): void {
    this.streams.delete(jobId);
  }
}
