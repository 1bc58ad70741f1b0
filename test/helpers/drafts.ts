import type { EventDraft } from '../../shared/events.js';

/**
 * An event as a worker would emit it (the emit script adds job_id, seq and epoch). `progress(p)`
 * is the usual running `job_progress`; `draft(type, over)` any other.
 */
export function draft(event_type: EventDraft['event_type'] = 'job_progress', over: Partial<EventDraft> = {}): EventDraft {
  return {
    event_type,
    status: event_type === 'job_completed' ? 'completed' : event_type === 'job_failed' ? 'failed' : 'running',
    progress: null,
    results_count: 0,
    message: null,
    metadata: {},
    timestamp: new Date().toISOString(),
    ...over,
  };
}

export function progress(p: number, over: Partial<EventDraft> = {}): EventDraft {
  return draft('job_progress', { progress: Math.min(100, p), results_count: p, ...over });
}

/** A progress event padded to about 250 bytes of history: a replay's size adds up in few events. */
export function paddedProgress(n: number): EventDraft {
  return progress(n % 100, { results_count: n, message: `progress ${n} `.padEnd(120, '.') });
}
