import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortInUseError, startGatewayApp } from '../../gateway/gateway-app.js';
import { createLogger } from '../../shared/logger.js';
import { createTestDatabase, createTestRedis, serviceEnv, testConfig, uniqueName, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson } from '../helpers/ws-client.js';

/** Names of the Redis clients a gateway opened (its connections are named after GATEWAY_ID). */
async function connectionsOf(redis: TestRedis, gatewayId: string): Promise<string[]> {
  const list = (await redis.redis.client('LIST')) as string;
  return [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1]!).filter((name) => name.startsWith(`gateway:${gatewayId}:`));
}

describe('startGatewayApp: the gateway started in-process, as main.ts starts it', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  const log = createLogger('gateway', 'silent');
  const configFor = (gatewayId: string, port: string) =>
    testConfig(serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { PORT: port, GATEWAY_ID: gatewayId, DRAIN_TIMEOUT_SECONDS: '1' }));

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
  });
  afterAll(async () => {
    await redis?.cleanup();
    await database?.drop();
  });

  it('listens and serves, and close() drains once and closes every connection it opened', async () => {
    const id = uniqueName('app');
    const gateway = await startGatewayApp(configFor(id, '0'), log);
    expect((await httpJson(`http://127.0.0.1:${gateway.port}/health`)).status).toBe(200);
    expect(gateway.url).toBe(`http://127.0.0.1:${gateway.port}/`);
    expect((await connectionsOf(redis, id)).sort()).toEqual([`gateway:${id}:commands`, `gateway:${id}:queue`, `gateway:${id}:subscriber`]);

    const first = gateway.close('test');
    expect(gateway.close('again')).toBe(first); // idempotent: the same drain
    await first;
    await expect(fetch(`http://127.0.0.1:${gateway.port}/health`)).rejects.toThrow();
    await expect.poll(() => connectionsOf(redis, id), { timeout: 3000 }).toEqual([]);
  });

  it('on a failed start (its exclusive port taken) rejects and leaves no connection open', async () => {
    const holder = await startGatewayApp(configFor(uniqueName('holder'), '0'), log);
    try {
      const id = uniqueName('late');
      await expect(startGatewayApp(configFor(id, String(holder.port)), log)).rejects.toBeInstanceOf(PortInUseError);
      await expect.poll(() => connectionsOf(redis, id), { timeout: 3000 }).toEqual([]);
    } finally {
      await holder.close();
    }
  });
});
