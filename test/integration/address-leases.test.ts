import { RateLimiterRedis } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionSlots, leaseSize, UpgradeRate } from '../../gateway/limits/address-leases.js';
import { createTestRedis, type TestRedis } from '../helpers/services.js';

/** Two gateways' worth of leases on one shared Redis counter. */
describe('per-address limits taken from Redis in leases', () => {
  let t: TestRedis;
  beforeAll(async () => {
    t = await createTestRedis();
  });
  afterAll(() => t.cleanup());

  const limiter = (name: string, points: number, duration: number) => new RateLimiterRedis({ storeClient: t.redis, keyPrefix: `${t.keyPrefix}${name}`, points, duration });

  it('takes a twentieth of the limit at a time, one point for small limits', () => {
    expect([leaseSize(50), leaseSize(1000), leaseSize(10), leaseSize(1)]).toEqual([2, 50, 1, 1]);
  });

  it('never grants more upgrades a second than the limit across gateways, and not much fewer', async () => {
    const shared = limiter('rate', 100, 10); // a 10 s window: the burst below stays inside one
    const gateways = [new UpgradeRate(shared, 100), new UpgradeRate(shared, 100)];
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const g = gateways[i % 2]!;
        return g.trySpend('10.0.0.1') ? Promise.resolve(null) : g.take('10.0.0.1');
      }),
    );
    const granted = results.filter((r) => r === null).length;
    // Each gateway starts the window with one lease (5 points) of its own, not counted in Redis;
    // at most one lease per gateway is left unspent to the others.
    expect(granted).toBeLessThanOrEqual(100 + 2 * 5);
    expect(granted).toBeGreaterThanOrEqual(90);
    expect(results.find((r) => r !== null)).toMatchObject({ retryAfterSeconds: expect.any(Number) });
  });

  it('caps open connections across gateways, takes closed ones back and returns every slot on shutdown', async () => {
    const shared = limiter('conns', 100, 0);
    const onError = (error: unknown) => {
      throw error;
    };
    const gateways = [new ConnectionSlots(shared, 100, onError), new ConnectionSlots(shared, 100, onError)];
    const open = async (g: ConnectionSlots) => (g.trySpend('10.0.0.2') ? null : g.take('10.0.0.2'));
    const first = await Promise.all(Array.from({ length: 150 }, (_, i) => open(gateways[i % 2]!)));
    const opened = first.map((r, i) => (r === null ? i % 2 : -1)).filter((g) => g >= 0);
    expect(opened.length).toBeLessThanOrEqual(100);
    expect(opened.length).toBeGreaterThanOrEqual(90);
    // Gateway 0's sockets close: gateway 1 can open that many more.
    const closing = opened.filter((g) => g === 0).length;
    for (let i = 0; i < closing; i++) gateways[0]!.release('10.0.0.2');
    gateways[0]!.sweep();
    await new Promise((r) => setTimeout(r, 200)); // the slots it gives back reach Redis
    const again = await Promise.all(Array.from({ length: closing }, () => open(gateways[1]!)));
    // Within two leases: what a gateway lent on credit and what it keeps spare.
    expect(again.filter((r) => r === null).length).toBeGreaterThanOrEqual(closing - 2 * 5);
    await Promise.all(gateways.map((g) => g.releaseAll()));
    expect(Number(await t.redis.get(`${t.keyPrefix}conns:10.0.0.2`))).toBe(0);
  });
});
