import { describe, expect, it } from 'vitest';
import { createJobRequestSchema, departureWindow, fieldErrors, isJsonContentType, REQUEST_PARSE_OPTIONS } from '../../shared/api.js';
import { queuedNote } from '../../shared/client/queued-note.js';
import type { ScrapingEvent } from '../../shared/events.js';

describe('departureWindow', () => {
  it("starts at today where it is earliest on Earth (UTC−12) and ends 730 days later, a day's slack for UTC+14", () => {
    expect(departureWindow(Date.parse('2026-11-29T05:00:00Z'))).toEqual({ first: '2026-11-28', last: '2028-11-28' });
    expect(departureWindow(Date.parse('2026-11-29T12:00:00Z'))).toEqual({ first: '2026-11-29', last: '2028-11-29' });
  });
});

describe('isJsonContentType', () => {
  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON ;charset=UTF-8', true],
    ['application/json-patch+json', false],
    ['application/jsonx', false],
    ['text/json', false],
    ['', false],
  ])('%j → %s', (header, expected) => expect(isJsonContentType(header)).toBe(expected));
});

describe('createJobRequestSchema', () => {
  const dates = [[departureWindow().first, departureWindow().first]];
  const parse = (body: unknown) => {
    const result = createJobRequestSchema.safeParse(body, REQUEST_PARSE_OPTIONS);
    return result.success ? result.data : fieldErrors(result.error);
  };

  it('upper-cases ASCII codes and refuses any other letter, whatever its upper case', () => {
    expect(parse({ origins: ['muc'], destinations: ['bcn'], date_ranges: dates })).toMatchObject({ origins: ['MUC'], destinations: ['BCN'] });
    for (const code of ['ıst', 'ÄBC', 'MU1', 'MUCX']) {
      expect(parse({ origins: [code], destinations: ['BCN'], date_ranges: dates }), code).toEqual({ 'origins.0': ['must be a 3-letter IATA airport code, e.g. "MUC"'] });
    }
  });

  it('says "required" for a missing field, and what it expected for a wrong one', () => {
    expect(parse({})).toEqual({ origins: ['required'], destinations: ['required'], date_ranges: ['required'] });
    expect(parse({ origins: 'MUC', destinations: ['BCN'], date_ranges: dates })).toEqual({ origins: [expect.stringContaining('expected array')] });
  });
});

describe('queuedNote', () => {
  const snapshot = (metadata: Record<string, unknown>, status: ScrapingEvent['status'] = 'pending'): ScrapingEvent => ({
    job_id: 11,
    seq: 0,
    event_type: 'job_progress',
    status,
    progress: 0,
    results_count: 0,
    message: 'Connected to job 11',
    metadata: { snapshot: true, ...metadata },
    timestamp: '2026-11-29T10:00:00.000Z',
  });
  const since = '2026-11-29T10:00:00.000Z';
  const now = Date.parse(since);

  it('says how long a queued job has waited and where it stands', () => {
    expect(queuedNote(snapshot({ queued: true, queued_since: since, queue_position: 2, queue_length: 5 }), now + 4_200)).toBe(
      'job 11 is waiting in the queue (for 4 s, position 2 of 5): no worker has taken it yet — is a worker running? (npm run start:worker)',
    );
    expect(queuedNote(snapshot({ queued: true, queued_since: since, queue_position: null, queue_length: null }), now + 125_000)).toContain('(for 2 min 5 s)');
  });

  it('says nothing about a job that is not queued', () => {
    expect(queuedNote(snapshot({}), now)).toBeNull();
    expect(queuedNote(snapshot({ queued: true, queued_since: since }, 'running'), now)).toBeNull();
  });
});
