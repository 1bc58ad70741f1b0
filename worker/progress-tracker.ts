import type { EventDraft, EventType, JobStatus } from '../shared/events.js';
import type { EmittedEvent, JobEventSink } from './events/job-event-sink.js';

/** One scraper task as events name it: `route` like "MUC→BCN", `dates` like "2025-12-20/2025-12-27". */
export interface TaskRef {
  scraper: string;
  route: string;
  dates: string;
}

export interface ProgressSnapshot {
  /** 0–100 */
  progress: number;
  /** Unique flights found so far. */
  resultsCount: number;
  /** Highest seq an emit of this tracker got back. */
  lastSeq: number;
}

export interface ProgressTrackerOptions {
  /** Called after each job_progress event is stored (the worker records progress in Postgres). */
  onProgress?: (snapshot: ProgressSnapshot) => void;
  /** Where the job stands when the tracker takes it over (its row's progress and count); 0 and 0 if unset. */
  start?: { progress: number; resultsCount: number };
  now?: () => Date;
}

type Metadata = Record<string, unknown>;

/**
 * The eight emit helpers of one job (DESIGN.md "Event contract"), on any JobEventSink.
 *
 * The tracker keeps the job's current progress and results count and stamps them on every
 * event, so scraper events carry the job-wide count (the count of one task goes in
 * metadata.results_count) and a client's progress bar never jumps back. Those fields are updated
 * when a helper is called, not when its emit resolves: helpers called one after another describe
 * the job in the same order their seqs do.
 */
export class ProgressTracker {
  private progress: number;
  private resultsCount: number;
  private highestSeq = 0;

  constructor(
    private readonly sink: JobEventSink,
    readonly jobId: number,
    private readonly options: ProgressTrackerOptions = {},
  ) {
    this.progress = clampProgress(options.start?.progress ?? 0);
    this.resultsCount = options.start?.resultsCount ?? 0;
  }

  get snapshot(): ProgressSnapshot {
    return { progress: this.progress, resultsCount: this.resultsCount, lastSeq: this.highestSeq };
  }

  get lastSeq(): number {
    return this.highestSeq;
  }

  emitJobStarted(job: { jobType: string; source: string; params: unknown; message?: string; metadata?: Metadata }): Promise<EmittedEvent> {
    this.progress = 0;
    this.resultsCount = 0;
    return this.emit('job_started', 'running', 0, job.message ?? `Job ${this.jobId} started`, {
      job_type: job.jobType,
      source: job.source,
      params: job.params,
      ...job.metadata,
    });
  }

  async emitJobProgress(update: { progress: number; resultsCount?: number; message?: string; metadata?: Metadata }): Promise<EmittedEvent> {
    this.progress = clampProgress(update.progress);
    if (update.resultsCount !== undefined) this.resultsCount = update.resultsCount;
    const emitted = await this.emit('job_progress', 'running', this.progress, update.message ?? `Progress ${this.progress}%`, update.metadata ?? {});
    this.options.onProgress?.(this.snapshot);
    return emitted;
  }

  emitJobCompleted(result: { resultsCount: number; message?: string; metadata?: Metadata }): Promise<EmittedEvent> {
    this.progress = 100;
    this.resultsCount = result.resultsCount;
    return this.emit('job_completed', 'completed', 100, result.message ?? `Job completed: ${result.resultsCount} flights found`, result.metadata ?? {});
  }

  emitJobFailed(failure: { error: string; message?: string; metadata?: Metadata }): Promise<EmittedEvent> {
    return this.emit('job_failed', 'failed', this.progress, failure.message ?? `Job failed: ${failure.error}`, {
      error: failure.error,
      ...failure.metadata,
    });
  }

  emitScraperStarted(task: TaskRef): Promise<EmittedEvent> {
    return this.emit('scraper_started', 'running', null, `${task.scraper} searching ${task.route} (${task.dates})`, { ...task });
  }

  emitScraperCompleted(task: TaskRef, result: { resultsCount: number; metadata?: Metadata }): Promise<EmittedEvent> {
    return this.emit('scraper_completed', 'running', null, `${task.scraper} found ${result.resultsCount} flights for ${task.route} (${task.dates})`, {
      ...task,
      results_count: result.resultsCount,
      ...result.metadata,
    });
  }

  /** `failure` is the machine-readable kind (rate_limited, blocked, timeout, unavailable, bad_response). */
  emitScraperFailed(task: TaskRef, failure: { error: string; failure?: string }): Promise<EmittedEvent> {
    return this.emit('scraper_failed', 'running', null, `${task.scraper} failed for ${task.route} (${task.dates}): ${failure.error}`, {
      ...task,
      error: failure.error,
      failure: failure.failure ?? 'unavailable',
      results_count: 0,
    });
  }

  emitResultsUpdated(update: { resultsCount: number; message?: string; metadata?: Metadata }): Promise<EmittedEvent> {
    this.resultsCount = update.resultsCount;
    return this.emit('results_updated', 'running', null, update.message ?? `${update.resultsCount} unique flights found so far`, {
      total_flights: update.resultsCount,
      ...update.metadata,
    });
  }

  private async emit(eventType: EventType, status: JobStatus, progress: number | null, message: string, metadata: Metadata): Promise<EmittedEvent> {
    const draft: EventDraft = {
      event_type: eventType,
      status,
      progress,
      results_count: this.resultsCount,
      message,
      metadata,
      timestamp: (this.options.now?.() ?? new Date()).toISOString(),
    };
    const emitted = await this.sink.emit(this.jobId, draft);
    this.highestSeq = Math.max(this.highestSeq, emitted.seq);
    return emitted;
  }
}

/** Percentages with two decimals, inside 0–100. */
export function clampProgress(value: number): number {
  return Math.min(100, Math.max(0, Math.round(value * 100) / 100));
}
