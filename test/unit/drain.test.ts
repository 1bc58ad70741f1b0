import { describe, expect, it } from 'vitest';
import { closeGradually } from '../../gateway/ws/drain.js';
import type { ChannelSocket } from '../../gateway/ws/job-channels.js';

/** A draining gateway's closes, spread in batches so that the gateways left see a ramp, not a wall. */

function sockets(n: number, started: number) {
  const closes: { at: number; code: number; reason: string }[] = [];
  const list = Array.from({ length: n }, () => {
    const s = {
      closed: false,
      send: () => undefined,
      sendPaced: async () => undefined,
      joinTopic: () => undefined,
      close(code: number, reason: string) {
        closes.push({ at: Date.now() - started, code, reason });
        s.closed = true;
      },
    };
    return s;
  });
  return { list: list as ChannelSocket[], closes };
}

describe('closeGradually', () => {
  it('closes a small gateway at once, each socket once, with the code and reason', async () => {
    const started = Date.now();
    const { list, closes } = sockets(100, started);
    (list[3] as { closed: boolean }).closed = true;
    await closeGradually(list, 1000, 1001, 'gateway shutting down; reconnect');
    expect(Date.now() - started, 'no pause after the last batch').toBeLessThan(40);
    expect(closes).toHaveLength(99);
    expect(closes.every((c) => c.code === 1001 && c.reason === 'gateway shutting down; reconnect')).toBe(true);
    expect(Math.max(...closes.map((c) => c.at))).toBeLessThan(40);
  });

  it('spreads a large gateway over the given time in batches of at least 100, 50 ms apart', async () => {
    const started = Date.now();
    const { list, closes } = sockets(1000, started);
    await closeGradually(list, 200, 1001, 'bye'); // 4 batches of 250
    expect(closes).toHaveLength(1000);
    // A batch is closed in one go; batches are at least 50 ms apart.
    const batches: number[] = [];
    let last = -Infinity;
    for (const c of closes) {
      if (c.at - last >= 25) batches.push(0);
      batches[batches.length - 1]! += 1;
      last = c.at;
    }
    expect(batches).toEqual([250, 250, 250, 250]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    expect(Date.now() - started).toBeLessThan(600);
  });

  it('takes one batch when the spread is shorter than a batch interval', async () => {
    const { list, closes } = sockets(300, Date.now());
    await closeGradually(list, 10, 1001, 'bye');
    expect(closes).toHaveLength(300);
    expect(Math.max(...closes.map((c) => c.at))).toBeLessThan(40);
  });
});
