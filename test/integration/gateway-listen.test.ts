import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/haproxy.js';
import { startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

describe('gateway listening and admission', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let env: Record<string, string>;
  const started: ServiceProcess[] = [];

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { HOST: '127.0.0.1' });
  });
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  const start = async (extra: Record<string, string>, waitReady = true) => {
    const gateway = await startService('gateway', { ...env, ...extra }, { waitReady });
    started.push(gateway);
    return gateway;
  };

  it('fails loudly when its exclusive port is taken, instead of silently sharing it', async () => {
    const port = String(await freePort());
    await start({ PORT: port });
    const second = await start({ PORT: port }, false);
    const exit = await second.exited;
    expect(exit.code).not.toBe(0);
    expect(second.lines.some((l) => /could not listen: port in use/.test(String(l.msg)))).toBe(true);
  });

  it('shares one port between processes with LISTEN_EXCLUSIVE_PORT=false (SO_REUSEPORT)', async () => {
    const port = String(await freePort());
    const shared = { PORT: port, LISTEN_EXCLUSIVE_PORT: 'false' };
    await Promise.all([start({ ...shared, GATEWAY_ID: 'gw-one' }), start({ ...shared, GATEWAY_ID: 'gw-two' })]);
    const seen = new Set<string>();
    // The kernel spreads new connections over the listeners; a fresh connection each time.
    for (let i = 0; i < 60 && seen.size < 2; i++) {
      const { body } = await httpJson(`http://127.0.0.1:${port}/ws/stats`, { headers: { connection: 'close' } });
      seen.add(body.gateway_id);
    }
    expect([...seen].sort()).toEqual(['gw-one', 'gw-two']);
  });

  it('refuses WebSocket upgrades from browser origins outside ALLOWED_ORIGINS, and accepts listed and non-browser clients', async () => {
    const port = String(await freePort());
    await start({ PORT: port, ALLOWED_ORIGINS: 'https://scout.example, http://localhost:8000' });
    const url = `ws://127.0.0.1:${port}/ws/scraping/1`;
    await expect(new RecordingClient(url, { origin: 'https://evil.example' }).opened).rejects.toThrow('HTTP 403');
    for (const client of [new RecordingClient(url, { origin: 'https://scout.example' }), new RecordingClient(url)]) {
      await client.opened;
      expect((await client.closed).code).toBe(4404); // admitted: job 1 does not exist here
    }
  });
});
