import { describe, expect, it } from 'vitest';
import { formatEventLine } from '../../shared/client/event-line.js';
import { LiveOutput } from '../../shared/client/live-output.js';
import { renderProgressBar } from '../../shared/client/progress-bar.js';
import { DEFAULT_GATEWAY_URL, parseWatchArgs } from '../../shared/client/watch-args.js';
import type { ScrapingEvent } from '../../shared/events.js';

describe('renderProgressBar', () => {
  it('fills in eighths of a cell and always keeps its width', () => {
    expect(renderProgressBar(0, 10)).toBe('░░░░░░░░░░   0.0 %');
    expect(renderProgressBar(50, 10)).toBe('█████░░░░░  50.0 %');
    expect(renderProgressBar(37.5, 4)).toBe('█▌░░  37.5 %');
    expect(renderProgressBar(100, 10)).toBe('██████████ 100.0 %');
    for (let p = 0; p <= 100; p += 0.7) expect([...renderProgressBar(p, 30).split(' ')[0]!]).toHaveLength(30);
  });

  it('clamps out-of-range values and draws "--" for no progress yet', () => {
    expect(renderProgressBar(140, 4)).toBe('████ 100.0 %');
    expect(renderProgressBar(-3, 4)).toBe('░░░░   0.0 %');
    expect(renderProgressBar(null, 4)).toBe('░░░░   -- %');
  });
});

describe('formatEventLine', () => {
  const event: ScrapingEvent = {
    job_id: 3,
    seq: 17,
    event_type: 'scraper_completed',
    status: 'running',
    progress: null,
    results_count: 42,
    message: 'sim-kiwi found 4 flights\nfor MUC→BCN',
    metadata: {},
    timestamp: '2027-01-01T10:00:00.000Z',
  };
  it('puts time, seq, type, message (on one line) and results on one line', () => {
    expect(formatEventLine(event)).toMatch(/^\d\d:\d\d:\d\d  #17  scraper_completed  sim-kiwi found 4 flights for MUC→BCN  results=42$/);
    expect(formatEventLine({ ...event, message: null }, { snapshot: true })).toMatch(/  #17  snapshot {13}results=42$/);
  });
});

describe('LiveOutput', () => {
  const sink = (isTTY: boolean) => {
    const stream = { isTTY, text: '', write: (t: string) => (stream.text += t) };
    return stream;
  };

  it('writes plain lines and no bar when stdout is not a terminal', () => {
    const out = sink(false);
    const err = sink(false);
    const live = new LiveOutput(out, err);
    live.line('a');
    live.progress(50, 1);
    live.note('n');
    live.line('b');
    live.finish();
    expect(out.text).toBe('a\nb\n');
    expect(err.text).toBe('n\n');
  });

  it('on a terminal keeps the bar on the last line, below the scrolling lines', () => {
    const out = sink(true);
    const live = new LiveOutput(out, out);
    live.line('a');
    live.progress(50, 7);
    live.line('b');
    live.finish();
    const bar = `${renderProgressBar(50)}  7 results`;
    expect(out.text).toBe(`a\n\r\x1b[2K${bar}\r\x1b[2Kb\n${bar}\n`);
  });
});

describe('parseWatchArgs', () => {
  it('takes the job id and a URL from --url, else $SCOUT_URL, else the default', () => {
    expect(parseWatchArgs(['12', '--url', 'https://scout.example'], 'http://env:1')).toEqual({ kind: 'run', args: { jobId: 12, url: 'https://scout.example' } });
    expect(parseWatchArgs(['12'], 'http://env:1')).toEqual({ kind: 'run', args: { jobId: 12, url: 'http://env:1' } });
    expect(parseWatchArgs(['12'], '')).toEqual({ kind: 'run', args: { jobId: 12, url: DEFAULT_GATEWAY_URL } });
    expect(parseWatchArgs(['-h'], undefined)).toEqual({ kind: 'help' });
  });

  it('refuses what it cannot use, saying why', () => {
    expect(parseWatchArgs(['x'], undefined)).toEqual({ kind: 'usage-error', message: 'the job id must be a positive whole number' });
    expect(parseWatchArgs(['1'], 'not a url')).toMatchObject({ kind: 'usage-error', message: expect.stringContaining('http(s)://') });
  });
});
