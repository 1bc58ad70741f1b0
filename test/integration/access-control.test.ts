import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { EventDraft } from '../../shared/events.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { AUTH_ON, createKey, forgeToken, keysCli, postJob } from '../helpers/auth.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestDatabase, createTestRedis, serviceEnv, type TestDatabase, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

const draft = (event_type: EventDraft['event_type'], progress: number): EventDraft => ({
  event_type,
  status: event_type === 'job_completed' ? 'completed' : 'running',
  progress,
  results_count: 0,
  message: event_type,
  metadata: {},
  timestamp: new Date().toISOString(),
});

/** Everything an upgrade answered: the HTTP refusal, or the frames and close of the socket. */
async function watch(url: string, options: ConstructorParameters<typeof RecordingClient>[1] = {}) {
  const client = new RecordingClient(url, options);
  try {
    await client.opened;
  } catch (error) {
    // The message reads "<url>: upgrade refused: HTTP <status>".
    return { refused: /upgrade refused: HTTP \d+/.exec((error as Error).message)?.[0] ?? (error as Error).message, texts: [], close: null };
  }
  const close = await Promise.race([client.closed, new Promise<null>((r) => setTimeout(() => r(null), 400))]);
  client.close();
  return { refused: null, texts: client.texts, close };
}

describe('access control (AUTH_ENABLED=true, two gateways)', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  let gateways: ServiceProcess[];
  let bases: string[];
  let hosts: string[];
  let eventLog: JobEventLog;
  let alice: string;
  let bob: string;

  const rowCount = async () => Number((await database.db.selectFrom('scraping_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    [database, redis] = await Promise.all([createTestDatabase(), createTestRedis()]);
    const env = serviceEnv({ databaseUrl: database.url, keyPrefix: redis.keyPrefix }, { ...AUTH_ON, PORT: '0' });
    gateways = await Promise.all(['gw-1', 'gw-2'].map((id) => startService('gateway', { ...env, GATEWAY_ID: id }, { name: id })));
    hosts = await Promise.all(gateways.map(async (g) => `127.0.0.1:${await gatewayPort(g)}`));
    bases = hosts.map((h) => `http://${h}`);
    eventLog = new JobEventLog(redis.redis, new RedisKeys(redis.keyPrefix), { maxEvents: 100, retentionSeconds: 600 });
    [alice, bob] = await Promise.all([createKey(database.url, 'alice'), createKey(database.url, 'bob')]);
  });
  afterAll(async () => {
    await Promise.all((gateways ?? []).map((g) => g.stop()));
    await Promise.all([database?.drop(), redis?.cleanup()]);
  });

  it('refuses POST /api/jobs without a key, or with a malformed or unknown one: 401, nothing written', async () => {
    for (const key of [null, 'not-a-key', 'scout_' + 'A'.repeat(43)]) {
      const { status, body } = await postJob(bases[0]!, key);
      expect(status, String(key)).toBe(401);
      expect(body.error.code).toBe('UNAUTHORIZED');
    }
    expect(await rowCount()).toBe(0);
  });

  it('accepts a key created by the CLI: 202 with a watch token, in ws_url and status_url too', async () => {
    const { status, body } = await postJob(bases[0]!, alice);
    expect(status).toBe(202);
    expect(body.watch_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(body.ws_url).toBe(`ws://${hosts[0]}/ws/scraping/${body.job_id}?token=${body.watch_token}`);
    expect(body.status_url).toBe(`http://${hosts[0]}/ws/scraping/${body.job_id}/status?token=${body.watch_token}`);
    const row = await database.db.selectFrom('scraping_jobs').select('owner_key_id').where('id', '=', body.job_id).executeTakeFirstOrThrow();
    expect(row.owner_key_id).toEqual(expect.any(Number));
    // Postgres holds a hash of the key, never the key.
    const keys = await database.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(keys)).not.toContain(alice.slice(10));
  });

  it('lets the token watch its own job over WebSocket, fresh and resumed, and poll its status', async () => {
    const { body: job } = await postJob(bases[0]!, alice);
    await eventLog.append(job.job_id, draft('job_started', 0));
    await eventLog.append(job.job_id, draft('job_progress', 50));

    // Fresh, from the ws_url as handed out, on the other gateway.
    const fresh = await watch(job.ws_url.replace(hosts[0], hosts[1]));
    expect(fresh.refused).toBeNull();
    expect(JSON.parse(fresh.texts[0]!)).toMatchObject({ job_id: job.job_id, seq: 2, message: `Connected to job ${job.job_id}` });
    // Resumed from seq 0, the token in the Sec-WebSocket-Protocol header instead of the URL.
    const withoutToken = await watch(`ws://${hosts[1]}/ws/scraping/${job.job_id}?last_seq=0`);
    expect(withoutToken.refused).toBe('upgrade refused: HTTP 401');
    const viaProtocol = await new Promise<{ texts: string[]; protocol: string }>((resolve, reject) => {
      const ws = new WebSocket(`ws://${hosts[1]}/ws/scraping/${job.job_id}?last_seq=0`, ['scout.v1', `token.${job.watch_token}`]);
      const texts: string[] = [];
      ws.on('message', (d) => {
        texts.push(d.toString());
        if (texts.length === 2) (ws.close(), resolve({ texts, protocol: ws.protocol }));
      });
      ws.on('error', reject);
    });
    expect(viaProtocol.protocol).toBe('scout.v1');
    expect(viaProtocol.texts.map((t) => JSON.parse(t).seq)).toEqual([1, 2]);

    const status = await httpJson(job.status_url);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ job_id: job.job_id, last_seq: 0 });
    // The owner's key works in place of the token, on the status and on the upgrade.
    const byKey = await httpJson(`${bases[1]}/ws/scraping/${job.job_id}/status`, { headers: { authorization: `Bearer ${alice}` } });
    expect(byKey.status).toBe(200);
    const keyWatch = await watch(`ws://${hosts[1]}/ws/scraping/${job.job_id}`, { headers: { authorization: `Bearer ${alice}` } });
    expect(JSON.parse(keyWatch.texts[0]!)).toMatchObject({ job_id: job.job_id, seq: 2 });
  });

  it("gives another owner's key and another job's token exactly the unknown-job answer", async () => {
    const { body: mine } = await postJob(bases[0]!, alice);
    const { body: other } = await postJob(bases[0]!, alice);
    const unknownId = 2_000_000_000;
    const unknown = await watch(`ws://${hosts[0]}/ws/scraping/${unknownId}?token=${(await forgeToken({ job: unknownId, own: 1, exp: Math.floor(Date.now() / 1000) + 60 }))}`);
    // The same frames but for the id itself (and the time).
    const asNotFound = (texts: string[], id: number) => texts.map((t) => ({ ...JSON.parse(t), timestamp: 'T', job_id: 'N', message: JSON.parse(t).message.replace(String(id), 'N') }));
    expect(unknown.close?.code).toBe(4404);

    const wrongToken = await watch(`ws://${hosts[0]}/ws/scraping/${mine.job_id}?token=${other.watch_token}`);
    const wrongKey = await watch(`ws://${hosts[0]}/ws/scraping/${mine.job_id}`, { headers: { authorization: `Bearer ${bob}` } });
    for (const answer of [wrongToken, wrongKey]) {
      expect(answer.refused).toBeNull();
      expect(answer.close).toEqual({ code: 4404, reason: `Job ${mine.job_id} not found` });
      expect(unknown.close).toEqual({ code: 4404, reason: `Job ${unknownId} not found` });
      expect(asNotFound(answer.texts, mine.job_id)).toEqual(asNotFound(unknown.texts, unknownId));
    }
    const statusUnknown = await httpJson(`${bases[0]}/ws/scraping/${unknownId}/status`, { headers: { authorization: `Bearer ${bob}` } });
    const statusWrongKey = await httpJson(`${bases[0]}/ws/scraping/${mine.job_id}/status`, { headers: { authorization: `Bearer ${bob}` } });
    const statusWrongToken = await httpJson(`${bases[0]}/ws/scraping/${mine.job_id}/status?token=${other.watch_token}`);
    expect(statusUnknown.status).toBe(404);
    for (const s of [statusWrongKey, statusWrongToken]) {
      expect(s.status).toBe(404);
      expect(s.body.error.code).toBe(statusUnknown.body.error.code);
      expect(s.body.error.message).toBe(`Job ${mine.job_id} not found`);
    }
  });

  it('refuses an upgrade with no, expired, tampered or foreign-secret credentials: 401, no WebSocket', async () => {
    const { body: job } = await postJob(bases[0]!, alice);
    const [payload, signature] = [job.watch_token.split('.')[1], job.watch_token.split('.')[2]];
    const tamperedClaims = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), job: job.job_id + 1 })).toString('base64url');
    const cases = {
      none: '',
      expired: `?token=${await forgeToken({ job: job.job_id, own: 1, exp: Math.floor(Date.now() / 1000) - 5 })}`,
      tamperedPayload: `?token=${job.watch_token.split('.')[0]}.${tamperedClaims}.${signature}`,
      tamperedSignature: `?token=${job.watch_token.slice(0, -4)}AAAA`,
      otherSecret: `?token=${await forgeToken({ job: job.job_id, own: 1, exp: Math.floor(Date.now() / 1000) + 60 }, 'x'.repeat(48))}`,
      garbage: '?token=not.a.token',
    };
    for (const [name, query] of Object.entries(cases)) {
      const answer = await watch(`ws://${hosts[0]}/ws/scraping/${job.job_id}${query}`);
      expect(answer.refused, name).toBe('upgrade refused: HTTP 401');
    }
    const status = await httpJson(`${bases[0]}/ws/scraping/${job.job_id}/status${cases.expired}`);
    expect(status).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
  });

  it('mints a fresh watch token for the owner only', async () => {
    const { body: job } = await postJob(bases[0]!, alice);
    const minted = await httpJson(`${bases[1]}/api/jobs/${job.job_id}/watch-tokens`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(minted.status).toBe(201);
    expect(minted.body.ws_url).toContain(`?token=${minted.body.watch_token}`);
    expect((await httpJson(minted.body.status_url)).status).toBe(200);
    const stranger = await httpJson(`${bases[1]}/api/jobs/${job.job_id}/watch-tokens`, { method: 'POST', headers: { authorization: `Bearer ${bob}` } });
    expect(stranger.status).toBe(404);
    const anonymous = await httpJson(`${bases[1]}/api/jobs/${job.job_id}/watch-tokens`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
  });

  it('refuses a revoked key on every gateway within a second', async () => {
    const carol = await createKey(database.url, 'carol');
    const jobs: number[] = [];
    for (const base of bases) {
      const { status, body } = await postJob(base, carol);
      expect(status).toBe(202);
      jobs.push(body.job_id);
      // A read with the key, so that each gateway holds an answer it may reuse for a second.
      expect((await httpJson(`${base}/ws/scraping/${body.job_id}/status`, { headers: { authorization: `Bearer ${carol}` } })).status).toBe(200);
    }
    const { code } = await keysCli(database.url, ['revoke', 'carol']);
    expect(code).toBe(0);
    const revokedAt = Date.now();
    const before = await rowCount();
    for (const base of bases) {
      const { status, body } = await postJob(base, carol);
      expect(status).toBe(401);
      expect(body.error.code).toBe('UNAUTHORIZED');
    }
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect(await rowCount()).toBe(before);
    // Reads with the key stop within a second too (they may reuse an answer for up to one).
    for (const base of bases) {
      await expect
        .poll(async () => (await httpJson(`${base}/ws/scraping/${jobs[0]}/status`, { headers: { authorization: `Bearer ${carol}` } })).status, { timeout: 1000 - (Date.now() - revokedAt), interval: 50 })
        .toBe(401);
    }
    expect(Date.now() - revokedAt).toBeLessThan(1100);
    const { lines } = await keysCli(database.url, ['list']);
    expect(lines.find((l) => l.startsWith('carol'))).toMatch(/revoked/);
  });

  it('never logs a key or a token', () => {
    const logs = gateways.map((g) => g.output() + JSON.stringify(g.lines)).join('\n');
    expect(logs).not.toContain(alice);
    expect(logs).not.toContain(bob);
    expect(logs).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });
});
