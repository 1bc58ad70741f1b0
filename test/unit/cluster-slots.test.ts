import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../shared/redis/keys.js';
import { CLUSTER_SLOTS, slotOf } from '../../shared/redis/slots.js';

/** Slots split as `redis-cli --cluster create` splits them among n masters: contiguous, near-equal ranges. */
function shardOfSlot(slot: number, shards: number): number {
  const per = CLUSTER_SLOTS / shards;
  return Math.min(shards - 1, Math.floor(slot / per));
}

describe('cluster slots', () => {
  it('agree with Redis on known keys and honour hash tags', () => {
    // Values from CLUSTER KEYSLOT on Redis 7.
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('bar')).toBe(5061);
    expect(slotOf('{user1000}.following')).toBe(slotOf('{user1000}.followers'));
    expect(slotOf('foo{}{bar}')).toBe(slotOf('foo{}{bar}'));
    expect(slotOf('foo{}{bar}')).not.toBe(slotOf('bar'));
    expect(slotOf('foo{{bar}}zap')).toBe(slotOf('{bar'));
  });

  it("keep every name of one job (state, history, channel) in one slot, whatever the prefix", () => {
    for (const prefix of ['scout:', 'test_x1:', 'a']) {
      const keys = new RedisKeys(prefix);
      for (const id of [1, 42, 123_456_789]) {
        const slot = slotOf(keys.jobState(id));
        expect(slotOf(keys.jobHistory(id))).toBe(slot);
        expect(slotOf(keys.jobChannel(id))).toBe(slot);
      }
    }
  });

  it('put the whole BullMQ queue in one slot (hash-tagged prefix)', () => {
    const keys = new RedisKeys('scout:');
    const slot = slotOf(`${keys.bullmqPrefix}:scrape:wait`);
    for (const suffix of ['active', 'meta', 'id', 'job-42', 'events', 'stalled-check']) expect(slotOf(`${keys.bullmqPrefix}:scrape:${suffix}`)).toBe(slot);
  });

  it.each([3, 6])('spread sequential job ids evenly over the shards of a %i-shard cluster', (shards) => {
    const keys = new RedisKeys('scout:');
    const jobs = 60_000;
    const counts = new Array<number>(shards).fill(0);
    const slotsUsed = new Set<number>();
    for (let id = 1; id <= jobs; id++) {
      const slot = slotOf(keys.jobState(id));
      slotsUsed.add(slot);
      counts[shardOfSlot(slot, shards)]! += 1;
    }
    const expected = jobs / shards;
    for (const count of counts) expect(Math.abs(count - expected) / expected).toBeLessThan(0.05);
    // Short runs too: any 300 consecutive ids touch every shard, none takes more than half.
    for (let start = 1; start < 3000; start += 300) {
      const window = new Array<number>(shards).fill(0);
      for (let id = start; id < start + 300; id++) window[shardOfSlot(slotOf(keys.jobState(id)), shards)]! += 1;
      expect(Math.min(...window)).toBeGreaterThan(0);
      expect(Math.max(...window)).toBeLessThan(150);
    }
    expect(slotsUsed.size).toBeGreaterThan(CLUSTER_SLOTS * 0.9);
  });
});
