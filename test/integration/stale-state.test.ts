import pg from 'pg';
import { findJob } from '../../shared/db/jobs.repository.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../shared/db/database.js';
import { migrateToLatest } from '../../shared/db/migrate.js';
import { JobEventLog } from '../../shared/redis/job-event-log.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { params, waitForFinishedJob } from '../helpers/jobs.js';
import { gatewayPort, startService, type ServiceProcess } from '../helpers/processes.js';
import { createTestRedis, databaseUrl, serviceEnv, uniqueName, type TestRedis } from '../helpers/services.js';
import { httpJson, RecordingClient } from '../helpers/ws-client.js';

/** One database name, dropped and created again as an operator would; Redis keeps its data. */
class RecreatableDatabase {
  readonly name = uniqueName('scout_stale');
  readonly url: string;
  db = createDatabase('postgres://unused/x', 1);

  constructor() {
    const url = new URL(databaseUrl());
    url.pathname = `/${this.name}`;
    this.url = url.toString();
  }

  async create(): Promise<void> {
    await this.admin(`create database ${this.name}`);
    await this.db.destroy();
    this.db = createDatabase(this.url, 2);
    await migrateToLatest(this.db);
  }

  async drop(): Promise<void> {
    await this.db.destroy();
    // pg's pool.end() resolves before its connections have closed; a forced drop that kills one
    // still closing makes its client throw into the test run. Let them go first (2 s at most).
    for (let i = 0; i < 40; i++) {
      const rows = await this.admin('select count(*)::int as n from pg_stat_activity where datname = $1', [this.name]);
      if (rows[0]?.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.admin(`drop database if exists ${this.name} with (force)`);
  }

  private async admin(statement: string, values: unknown[] = []): Promise<{ n?: number }[]> {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      return (await client.query(statement, values)).rows;
    } finally {
      await client.end();
    }
  }
}

describe('state that cannot go stale, and lean retention of finished jobs', () => {
  const database = new RecreatableDatabase();
  let t: TestRedis;
  let keys: RedisKeys;
  let services: ServiceProcess[] = [];
  let base = '';

  async function start(extra: Record<string, string> = {}): Promise<void> {
    const env = serviceEnv({ databaseUrl: database.url, keyPrefix: t.keyPrefix }, { PORT: '0', ...extra });
    const [gateway, worker] = await Promise.all([startService('gateway', env), startService('worker', env)]);
    services = [gateway!, worker!];
    base = `127.0.0.1:${await gatewayPort(gateway!)}`;
  }

  async function stop(): Promise<void> {
    await Promise.all(services.map((s) => s.stop()));
    services = [];
  }

  async function createJob(): Promise<number> {
    const { status, body } = await httpJson(`http://${base}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params({ destinations: ['BCN'], scrapers: ['sim-ryanair', 'sim-kiwi'] })),
    });
    expect(status).toBe(202);
    return (body as { job_id: number }).job_id;
  }

  beforeAll(async () => {
    t = await createTestRedis();
    keys = new RedisKeys(t.keyPrefix);
    await database.create();
  }, 30_000);
  afterAll(async () => {
    await stop();
    await database.drop();
    await t.cleanup();
  });

  it('a database recreated under a Redis that kept its data: job 1 again runs, and its watchers get its own stream', async () => {
    await start();
    const oldId = await createJob();
    expect(oldId).toBe(1);
    const oldRow = await waitForFinishedJob(database.db, oldId);
    expect(oldRow.status).toBe('completed');
    const old = await new JobEventLog(t.redis, keys, { maxEvents: 100, retentionSeconds: 60 }).read(oldId);
    expect(old.state).toMatchObject({ status: 'completed', identity: oldRow.identity });
    await stop();

    await database.drop();
    await database.create();
    // Redis still holds job 1's finished queue entry and its completed stream.
    expect(await t.redis.exists(keys.jobState(1), keys.jobHistory(1))).toBe(2);
    await start();

    const newId = await createJob();
    expect(newId).toBe(1);
    const watcher = new RecordingClient(`ws://${base}/ws/scraping/${newId}`);
    const end = await watcher.waitForEvent((e) => e.event_type === 'job_completed' || e.event_type === 'job_failed', 30_000);
    const row = await waitForFinishedJob(database.db, newId);
    expect(row.status).toBe('completed');
    expect(row.identity).not.toBe(oldRow.identity);
    expect(end.metadata.epoch).not.toBe(old.state!.epoch);
    // Nothing of the old job reached the watcher: its first frame is the new job's (pending or
    // running), and no frame carries the old stream's epoch.
    expect(watcher.events[0]!.status).not.toBe('completed');
    expect(watcher.events.filter((e) => e.metadata.epoch === old.state!.epoch)).toEqual([]);
    // And the stream now is the new row's: a late watcher gets its snapshot.
    const late = new RecordingClient(`ws://${base}/ws/scraping/${newId}`);
    const snapshot = await late.waitForEvent((e) => e.metadata.snapshot === true);
    expect(snapshot.metadata.epoch).toBe(end.metadata.epoch);
    expect(snapshot.seq).toBe(end.seq);
    watcher.close();
    late.close();
    await stop();
  }, 90_000);

  it("a finished job's Redis keys are gone after FINISHED_RETENTION_SECONDS, and a new watcher still gets its snapshot from Postgres", async () => {
    await start({ FINISHED_RETENTION_SECONDS: '2' });
    const id = await createJob();
    const row = await waitForFinishedJob(database.db, id);
    expect(row.status).toBe('completed');
    await expect.poll(async () => (await t.redis.hget(keys.jobState(id), 'status')) ?? 'gone').toMatch(/completed|gone/);
    const ttl = await t.redis.ttl(keys.jobHistory(id));
    expect(ttl).toBeLessThanOrEqual(2);
    await expect.poll(() => t.redis.exists(keys.jobState(id), keys.jobHistory(id)), { timeout: 6_000, interval: 200 }).toBe(0);

    // The row as it ended: its last_seq follows the terminal event, a moment after the status.
    const ended = (await findJob(database.db, id))!;
    const watcher = new RecordingClient(`ws://${base}/ws/scraping/${id}`);
    const snapshot = await watcher.waitForEvent((e) => e.metadata.snapshot === true);
    const end = await watcher.waitForEvent((e) => e.event_type === 'job_completed');
    expect(snapshot).toMatchObject({ status: 'completed', seq: ended.last_seq, metadata: { epoch: null } }); // epoch null: from the row
    expect(end).toMatchObject({ seq: ended.last_seq, results_count: ended.items_scraped, metadata: { rebuilt: true } });
    watcher.close();
  }, 60_000);
});
