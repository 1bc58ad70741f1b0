import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    databaseUrl: string;
  }
}

/**
 * Where the tests find Redis and Postgres: REDIS_URL / DATABASE_URL when set; otherwise, where a
 * Docker engine answers, containers started by testcontainers; otherwise the local defaults.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: (() => Promise<unknown>)[] = [];
  let redisUrl = process.env.REDIS_URL;
  let databaseUrl = process.env.DATABASE_URL;

  if ((!redisUrl || !databaseUrl) && (await dockerAvailable())) {
    const { GenericContainer, Wait } = await import('testcontainers');
    if (!redisUrl) {
      const redis = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
      stops.push(() => redis.stop());
      redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
    }
    if (!databaseUrl) {
      const postgres = await new GenericContainer('postgres:16-alpine')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start();
      stops.push(() => postgres.stop());
      databaseUrl = `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`;
    }
  }

  project.provide('redisUrl', redisUrl ?? 'redis://127.0.0.1:6379');
  project.provide('databaseUrl', databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    // No engine: the local services are used instead.
    return false;
  }
}
