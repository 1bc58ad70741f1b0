import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { RedisKeys } from '../../shared/redis/keys.js';
import { SourceError } from '../../worker/scrapers/http/source-error.js';
import { SourceHttp } from '../../worker/scrapers/http/source-http.js';
import { SourceRateLimit } from '../../worker/scrapers/http/source-rate-limit.js';
import { FareFixtureServer, type FixtureHandler } from '../helpers/fare-fixtures.js';
import { createTestRedis, type TestRedis } from '../helpers/services.js';

const schema = z.object({ ok: z.literal(true) });
const config = { timeoutMs: 300, retries: 2, backoffMs: 10, backoffMaxMs: 40, maxRetryAfterMs: 2000 };

/** The hardened HTTP client in process, against a loopback fixture, with its rate limit in Redis. */
describe('SourceHttp', () => {
  let t: TestRedis;
  let fixture: FareFixtureServer;
  const log = createLogger('test', 'silent');

  beforeAll(async () => {
    [t, fixture] = await Promise.all([createTestRedis(), FareFixtureServer.start()]);
  });
  afterAll(async () => {
    await fixture?.close();
    await t?.cleanup();
  });

  const client = (overrides: Partial<typeof config> = {}) =>
    new SourceHttp('test-source', { ...config, ...overrides }, new SourceRateLimit(t.redis, new RedisKeys(t.keyPrefix).sourceRateLimitPrefix, 'test-source', 100), log);
  const serve = (handler: FixtureHandler) => {
    fixture.requests.length = 0;
    fixture.use(handler);
  };
  const failureOf = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    return error as SourceError;
  };

  it('aborting the job stops a request in flight at once, with the abort reason', async () => {
    serve(() => ({ hang: true }));
    const controller = new AbortController();
    const started = Date.now();
    const request = client({ timeoutMs: 10_000 }).requestJson({ url: `${fixture.url}/x`, schema, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('job cancelled')), 50);
    await expect(request).rejects.toThrow('job cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('aborting the job stops a Retry-After wait at once', async () => {
    serve(() => ({ status: 503, headers: { 'retry-after': '2' } }));
    const controller = new AbortController();
    const started = Date.now();
    const request = client().requestJson({ url: `${fixture.url}/x`, schema, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('job cancelled')), 100);
    await expect(request).rejects.toThrow('job cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fixture.requests).toHaveLength(1);
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    let calls = 0;
    serve(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } } : { body: { ok: true } }));
    expect(await client().requestJson({ url: `${fixture.url}/x`, schema, signal: new AbortController().signal })).toEqual({ ok: true });
    // An HTTP date has whole seconds, so two seconds ahead is more than one second ahead once
    // the milliseconds are cut: at least about a second was waited (less the answer's way back).
    expect(fixture.requests[1]!.at - fixture.requests[0]!.at).toBeGreaterThanOrEqual(900);
  });

  it('does not wait for a Retry-After longer than allowed: rate_limited at once', async () => {
    serve(() => ({ status: 429, headers: { 'retry-after': '3600' } }));
    const error = await failureOf(client().requestJson({ url: `${fixture.url}/x`, schema, signal: new AbortController().signal }));
    expect(error.failure).toBe('rate_limited');
    expect(error.message).toContain('asked to wait 3600 s');
    expect(fixture.requests).toHaveLength(1);
  });

  it('429 on every attempt ends as rate_limited after the retries; a 404 as bad_response without retry', async () => {
    serve(() => ({ status: 429 }));
    const limited = await failureOf(client().requestJson({ url: `${fixture.url}/x`, schema, signal: new AbortController().signal }));
    expect([limited.failure, fixture.requests.length]).toEqual(['rate_limited', 3]);
    serve(() => ({ status: 404, body: { message: 'Not Found' } }));
    const missing = await failureOf(client().requestJson({ url: `${fixture.url}/x`, schema, signal: new AbortController().signal }));
    expect([missing.failure, fixture.requests.length]).toEqual(['bad_response', 1]);
    expect(missing.message).toContain('HTTP 404');
  });

  it('a source that cannot be reached is unavailable after the retries', async () => {
    const closed = await FareFixtureServer.start();
    const url = closed.url;
    await closed.close();
    const error = await failureOf(client().requestJson({ url: `${url}/x`, schema, signal: new AbortController().signal }));
    expect(error.failure).toBe('unavailable');
    expect(error.message).toMatch(/could not be reached .*ECONNREFUSED.*\(3 attempts\)/);
  });
});
