import { describe, expect, it } from 'vitest';
import { epochOfPayload, jobIdOfPayload, seqOfPayload } from '../../shared/redis/job-event-log.js';

const payload = '{"job_id":123,"seq":4567,"event_type":"job_progress","status":"running","progress":1,"results_count":0,"message":"m","metadata":{"epoch":"1764126000123456","x":1},"timestamp":"2026-11-26T00:00:00.000Z"}';

describe('reading seq and epoch from a serialized event without parsing it', () => {
  it('reads them from a string and from a buffer', () => {
    for (const p of [payload, Buffer.from(payload)]) {
      expect(seqOfPayload(p)).toBe(4567);
      expect(jobIdOfPayload(p)).toBe(123);
      expect(epochOfPayload(p)).toBe('1764126000123456');
    }
  });

  it('agrees with JSON.parse over many job ids and seqs', () => {
    for (const [job, seq] of [[1, 0], [9, 1], [2147483647, 9007199254740991], [42, 1000000]] as const) {
      const text = `{"job_id":${job},"seq":${seq},"event_type":"job_started"}`;
      expect(seqOfPayload(Buffer.from(text))).toBe(JSON.parse(text).seq);
      expect(jobIdOfPayload(Buffer.from(text))).toBe(job);
    }
  });

  it('answers -1 / null for payloads of another shape', () => {
    for (const other of ['{"seq":1,"job_id":2,"x":"yyyyyyyyyyyyyy"}', 'pong', '', '{"job_id":1,"seq":"x","a":"bbbbbbbbbbbb"}']) {
      expect(seqOfPayload(Buffer.from(other))).toBe(-1);
    }
    expect(jobIdOfPayload(Buffer.from('{"seq":1,"job_id":2,"x":"yyyyyyyyyyyyyy"}'))).toBe(-1);
    expect(jobIdOfPayload(Buffer.from('pong'))).toBe(-1);
    expect(epochOfPayload('{"job_id":1,"seq":2,"metadata":{}}')).toBeNull();
  });
});
