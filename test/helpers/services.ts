import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { deleteKeysWithPrefix } from './redis-keys.js';
import { loadConfig, type Config } from '../../shared/config.js';
import { createDatabase, type Database } from '../../shared/db/database.js';
import { migrateToLatest } from '../../shared/db/migrate.js';

export const redisUrl = (): string => inject('redisUrl');
export const databaseUrl = (): string => inject('databaseUrl');

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  url: string;
  db: Kysely<Database>;
  drop(): Promise<void>;
}

/** A database of its own, migrated to the latest schema; dropped (with its connections) afterwards. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = uniqueName('scout_test');
  const admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  const db = createDatabase(url.toString(), 5);
  await migrateToLatest(db);
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.destroy();
      const client = new pg.Client({ connectionString: databaseUrl() });
      await client.connect();
      // pg's pool.end() resolves before its connections have closed; a forced drop that kills one
      // still closing makes its client throw 57P01 into the test run. Let them go first (2 s at most).
      for (let i = 0; i < 40; i++) {
        const { rows } = await client.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
        if (rows[0]?.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

export interface TestRedis {
  redis: Redis;
  keyPrefix: string;
  queueName: string;
  /** Deletes every key under the prefix. */
  cleanup(): Promise<void>;
}

/** An isolated key prefix and queue name on the shared Redis. */
export async function createTestRedis(url = redisUrl()): Promise<TestRedis> {
  const keyPrefix = `${uniqueName('t')}:`;
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  return {
    redis,
    keyPrefix,
    queueName: 'scrape',
    async cleanup() {
      await deleteKeysWithPrefix(redis, keyPrefix);
      redis.disconnect();
    },
  };
}

/** The environment a service process under test gets. */
export function serviceEnv(parts: { databaseUrl: string; keyPrefix: string; redisUrl?: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: parts.redisUrl ?? redisUrl(),
    DATABASE_URL: parts.databaseUrl,
    KEY_PREFIX: parts.keyPrefix,
    LOG_LEVEL: 'info',
    // The tests start gateways open and with roomy abuse limits, unless a test asks otherwise:
    // they open hundreds of sockets a second from one address.
    AUTH_ENABLED: 'false',
    RATE_LIMIT_JOBS_PER_MINUTE: '100000',
    RATE_LIMIT_UPGRADES_PER_SECOND_PER_IP: '1000000',
    MAX_CONNECTIONS_PER_IP: '1000000',
    WS_MESSAGES_PER_SECOND: '1000',
    REPLAY_BYTES_PER_SECOND: '1073741824',
    SCRAPER_LATENCY_MS: '20',
    JOB_BACKOFF_MS: '100',
    ...extra,
  };
}

/** The parsed configuration for in-process use of the shared modules. */
export function testConfig(env: Record<string, string>): Config {
  return loadConfig(env);
}
