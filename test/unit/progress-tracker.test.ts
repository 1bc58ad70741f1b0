import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../shared/events.js';
import { MemoryEventSink } from '../../worker/events/memory-event-sink.js';
import { ProgressTracker, type ProgressSnapshot } from '../../worker/progress-tracker.js';

const task = { scraper: 'sim-kiwi', route: 'MUC→BCN', dates: '2026-12-20/2026-12-27' };

describe('ProgressTracker', () => {
  it('emits the eight event types with the fields the contract gives them', async () => {
    const sink = new MemoryEventSink();
    const snapshots: ProgressSnapshot[] = [];
    const tracker = new ProgressTracker(sink, 3, { onProgress: (s) => snapshots.push(s), now: () => new Date('2026-01-02T03:04:05.000Z') });

    await tracker.emitJobStarted({ jobType: 'flights', source: 'orchestrator', params: { origins: ['MUC'] } });
    await tracker.emitScraperStarted(task);
    await tracker.emitScraperCompleted(task, { resultsCount: 4 });
    await tracker.emitResultsUpdated({ resultsCount: 4 });
    await tracker.emitScraperFailed({ ...task, scraper: 'sim-wizzair' }, { error: 'HTTP 503' });
    await tracker.emitJobProgress({ progress: 66.666, resultsCount: 4, metadata: { tasks_done: 2 } });
    await tracker.emitJobFailed({ error: 'boom' });
    await tracker.emitJobCompleted({ resultsCount: 4 });

    const events = sink.events(3);
    expect(new Set(events.map((e) => e.event_type))).toEqual(new Set(EVENT_TYPES));
    expect(events.map((e) => [e.event_type, e.status, e.progress, e.results_count])).toEqual([
      ['job_started', 'running', 0, 0],
      ['scraper_started', 'running', null, 0],
      ['scraper_completed', 'running', null, 0],
      ['results_updated', 'running', null, 4],
      ['scraper_failed', 'running', null, 4],
      ['job_progress', 'running', 66.67, 4],
      ['job_failed', 'failed', 66.67, 4],
      ['job_completed', 'completed', 100, 4],
    ]);
    expect(events[0]!.metadata).toMatchObject({ job_type: 'flights', source: 'orchestrator', params: { origins: ['MUC'] } });
    expect(events[2]!.metadata).toMatchObject({ ...task, results_count: 4 });
    expect(events[4]!.metadata).toMatchObject({ scraper: 'sim-wizzair', error: 'HTTP 503', results_count: 0 });
    expect(events[4]!.message).toBe('sim-wizzair failed for MUC→BCN (2026-12-20/2026-12-27): HTTP 503');
    expect(events[6]!.metadata).toMatchObject({ error: 'boom' });
    expect(events.every((e) => e.timestamp === '2026-01-02T03:04:05.000Z')).toBe(true);
    expect(tracker.lastSeq).toBe(8);
    expect(snapshots).toEqual([{ progress: 66.67, resultsCount: 4, lastSeq: 6 }]);
  });

  it('stamps each event with the state at call time, so counts follow seq order', async () => {
    const sink = new MemoryEventSink();
    const tracker = new ProgressTracker(sink, 4);
    await Promise.all([
      tracker.emitResultsUpdated({ resultsCount: 2 }),
      tracker.emitScraperCompleted(task, { resultsCount: 2 }),
      tracker.emitResultsUpdated({ resultsCount: 5 }),
      tracker.emitJobProgress({ progress: 50 }),
    ]);
    expect(sink.events(4).map((e) => [e.seq, e.results_count])).toEqual([
      [1, 2],
      [2, 2],
      [3, 5],
      [4, 5],
    ]);
  });
});
