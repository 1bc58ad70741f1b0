import type { EventDraft, JobStatus } from '../../shared/events.js';

export interface EmittedEvent {
  seq: number;
  epoch: string;
}

/** Where a job's stream stands: the last seq it assigned and the status of its last event. */
export interface StreamHead {
  seq: number;
  status: JobStatus;
  eventType: string;
}

/**
 * Where a worker's progress events go. Guarantees every implementation keeps:
 * - emits for one job are applied in call order (a later call never gets a lower seq), even
 *   when callers do not wait for one emit before starting the next;
 * - seq is per job, 1, 2, 3 … without gaps within one epoch, and above every floor raised for
 *   the job, so a stream recreated after data loss never reuses a seq a client saw.
 */
export interface JobEventSink {
  emit(jobId: number, draft: EventDraft): Promise<EmittedEvent>;
  /** The stream's head, or null when the job has no stream (never emitted, or expired/lost). */
  head(jobId: number): Promise<StreamHead | null>;
  /** Declares a seq known elsewhere (the job row's last_seq): numbering never restarts below it. */
  raiseSeqFloor(jobId: number, seq: number): void;
  /**
   * Binds the job's stream to its row's identity: a stream written for another row of the same id
   * (the database was recreated, Redis kept its data) counts as no stream and is replaced.
   */
  bindIdentity(jobId: number, identity: string): void;
  /** Forgets the per-job memory once this worker is done with the job. */
  release(jobId: number): void;
}
