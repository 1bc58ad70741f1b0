import { describe, expect, it } from 'vitest';
import { JobSubscription, muxUrl, ScoutClient } from '../../shared/client/scout-client.js';
import type { ScrapingEvent } from '../../shared/events.js';

/*
 * The SDK's per-job rule for seq gaps: without a filter or interval a gap is a loss (the job is
 * resubscribed from its last seq); with one, gaps are by design and only order and duplicates are
 * checked. Pure logic; the wire is tested against a running gateway (mux-resume, sse).
 */

const event = (seq: number, over: Partial<ScrapingEvent> = {}): ScrapingEvent => ({
  job_id: 3,
  seq,
  event_type: 'job_progress',
  status: 'running',
  progress: 1,
  results_count: 0,
  message: null,
  metadata: { epoch: 'E1' },
  timestamp: '2026-01-01T00:00:00.000Z',
  ...over,
});

function subscription(options = {}) {
  const client = new ScoutClient({ baseUrl: 'http://gateway:8000', WebSocket: class {} as never });
  const sub = new JobSubscription(3, options, client);
  const seen: number[] = [];
  sub.on('event', (e) => seen.push(e.seq));
  return { sub, seen };
}

describe('JobSubscription.accept', () => {
  it('reports a gap of an unfiltered subscription as a loss and delivers nothing past it', () => {
    const { sub, seen } = subscription();
    expect(sub.accept(event(1))).toBe(true);
    expect(sub.accept(event(3))).toBe(false);
    expect(seen).toEqual([1]);
    expect(sub.lastSeq).toBe(1);
    expect(sub.subscribeMessage()).toEqual({ type: 'subscribe', job_id: 3, last_seq: 1, epoch: 'E1' });
  });

  it('accepts gaps of a filtered or throttled subscription, still dropping duplicates', () => {
    for (const options of [{ eventTypes: ['job_progress' as const] }, { progressIntervalMs: 250 }]) {
      const { sub, seen } = subscription(options);
      for (const seq of [1, 4, 4, 2, 9]) expect(sub.accept(event(seq))).toBe(true);
      expect(seen).toEqual([1, 4, 9]);
      expect(sub.duplicates).toBe(2);
      expect(sub.subscribeMessage()).toMatchObject({ last_seq: 9, ...('eventTypes' in options ? { event_types: ['job_progress'] } : { progress_interval_ms: 250 }) });
    }
  });

  it('starts from a snapshot and replaces what it holds on a resync snapshot', () => {
    const { sub, seen } = subscription();
    sub.accept(event(7, { metadata: { epoch: 'E1', snapshot: true } }));
    expect(sub.accept(event(8))).toBe(true);
    sub.accept(event(2, { metadata: { epoch: 'E2', snapshot: true, resync: true } }));
    expect(sub.accept(event(3, { metadata: { epoch: 'E2' } }))).toBe(true);
    expect(seen).toEqual([8, 3]);
    expect(sub.epoch).toBe('E2');
  });
});

describe('muxUrl', () => {
  it('turns the gateway URL into its /ws endpoint, keeping a path prefix', () => {
    expect(muxUrl('http://localhost:8000')).toBe('ws://localhost:8000/ws');
    expect(muxUrl('https://example.com/scout/')).toBe('wss://example.com/scout/ws');
    expect(() => muxUrl('ftp://x')).toThrow(TypeError);
  });
});
