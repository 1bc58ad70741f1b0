import { describe, expect, it } from 'vitest';
import { emittedAtOfPayload, epochOfPayload, jobIdOfPayload, seqOfPayload } from '../../shared/redis/job-event-log.js';

/** The gateway's hot-path readers of a serialized event: job id, seq and epoch read from the bytes. */

const event = '{"job_id":123,"seq":4567,"event_type":"job_progress","metadata":{"epoch":"1700000000123456","x":1},"timestamp":"t"}';

describe('event payload readers', () => {
  it('read job id, seq and epoch from a string or its bytes', () => {
    for (const p of [event, Buffer.from(event)]) {
      expect(jobIdOfPayload(p)).toBe(123);
      expect(seqOfPayload(p)).toBe(4567);
      expect(epochOfPayload(p)).toBe('1700000000123456');
    }
  });

  it('read a payload of exactly 20 characters, the shortest event prefix', () => {
    const p = '{"job_id":1,"seq":2,';
    expect(p).toHaveLength(20);
    expect([jobIdOfPayload(p), seqOfPayload(p)]).toEqual([1, 2]);
  });

  it('read an epoch mark at the very start', () => {
    expect(epochOfPayload('"metadata":{"epoch":"abc"}')).toBe('abc');
  });

  it('read job ids with every digit, 0 and 9 included', () => {
    for (const id of [10, 19, 90, 1234567890]) {
      const p = `{"job_id":${id},"seq":5,"event_type":"job_progress"}`;
      expect([jobIdOfPayload(p), seqOfPayload(p)], p).toEqual([id, 5]);
    }
  });

  it('read the whole of a long Buffer, where a string is cut at 48 characters', () => {
    const p = '{"job_id":1000000000000001,"seq":1234567890123456,"event_type":"job_progress"}';
    expect(seqOfPayload(Buffer.from(p))).toBe(1234567890123456);
    expect(seqOfPayload(p)).toBe(123456789012345);
  });

  it('read seq 0 and one-digit ids', () => {
    const p = '{"job_id":7,"seq":0,"event_type":"job_failed"}';
    expect([jobIdOfPayload(p), seqOfPayload(p)]).toEqual([7, 0]);
  });

  it.each([
    ['another shape', '{"seq":1,"job_id":2,"event_type":"x"}'],
    ['too short to be an event', '{"job_id":1,"seq":}'],
    ['no digits', '{"job_id":,"seq":,"event_type":"job_progress"}'],
    ['a prefix that differs in its last character', '{"job_id"=1,"seq":2,"event_type":"job_progress"}'],
  ])('answer -1 for %s', (_what, p) => {
    expect(jobIdOfPayload(p)).toBe(-1);
    expect(seqOfPayload(p)).toBe(-1);
    expect(jobIdOfPayload(Buffer.from(p))).toBe(-1);
  });

  it('answer -1 for a seq that does not follow the job id', () => {
    expect(seqOfPayload('{"job_id":12x"seq":3,"event_type":"job_progress"}')).toBe(-1);
    expect(seqOfPayload('{"job_id":12x,"seq":3,"event_type":"job_progress"}')).toBe(-1);
    expect(seqOfPayload('{"job_id":12,"sequence":3,"event_type":"job_progress"}')).toBe(-1);
    expect(jobIdOfPayload('{"job_id":12x"seq":3,"event_type":"job_progress"}')).toBe(12);
  });

  it('read only the first 48 characters of a string payload', () => {
    const long = `{"job_id":1,"seq":${'9'.repeat(40)},"event_type":"job_progress"}`;
    expect(seqOfPayload(long)).toBe(Number('9'.repeat(48 - '{"job_id":1,"seq":'.length)));
  });

  it('answer null for an epoch that is missing or unterminated', () => {
    expect(epochOfPayload('{"job_id":1,"seq":1,"metadata":{}}')).toBeNull();
    expect(epochOfPayload('{"job_id":1,"seq":1,"metadata":{"epoch":"123')).toBeNull();
    expect(epochOfPayload(Buffer.from('{"job_id":1,"seq":1,"metadata":{"epoch":"123'))).toBeNull();
    expect(epochOfPayload('{"metadata":{"epoch":""}')).toBe('');
  });
});

describe('emittedAtOfPayload', () => {
  it('reads the last timestamp of an event, from a string or its bytes', () => {
    const p = '{"job_id":1,"seq":2,"message":"\\"timestamp\\":\\"nope\\"","metadata":{},"timestamp":"2026-01-01T00:00:01.500Z"}';
    expect(emittedAtOfPayload(p)).toBe(Date.parse('2026-01-01T00:00:01.500Z'));
    expect(emittedAtOfPayload(Buffer.from(p))).toBe(Date.parse('2026-01-01T00:00:01.500Z'));
  });

  it('answers NaN without a timestamp, with an unterminated one, or one at the very start', () => {
    expect(emittedAtOfPayload('{"job_id":1}')).toBeNaN();
    expect(emittedAtOfPayload('{"timestamp":"2026-01-01T00:00:00.000Z')).toBeNaN();
    expect(emittedAtOfPayload(Buffer.from('{"timestamp":"2026'))).toBeNaN();
    expect(emittedAtOfPayload('"timestamp":"2026-01-01T00:00:00.000Z"')).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
  });
});
