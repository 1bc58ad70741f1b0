import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob } from '../../shared/db/jobs.repository.js';
import { AUTH_ON, forgeToken } from '../helpers/auth.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { params } from '../helpers/jobs.js';
import { MuxTestClient } from '../helpers/mux-client.js';

/* Protocol v2 under access control: the same rule as the legacy upgrade, per job. */
describe('WS /ws and SSE with access control on', () => {
  let f: GatewayFixture;
  beforeAll(async () => {
    f = await startGatewayFixture(AUTH_ON);
  });
  afterAll(() => f?.close());
  const token = (job: number) => forgeToken({ job, own: 1, exp: Math.floor(Date.now() / 1000) + 600 });

  it("serves a job to its watch token only; another job's token is not found, none is refused, the connection carries on", async () => {
    const [a, b, c] = [(await insertPendingJob(f.database.db, params())).id, (await insertPendingJob(f.database.db, params())).id, (await insertPendingJob(f.database.db, params())).id];
    const client = new MuxTestClient(`ws://${f.host}/ws`);
    await client.opened;
    const tokenA = await token(a);
    client.ws.send(JSON.stringify({ type: 'subscribe', job_id: a, token: tokenA }));
    client.ws.send(JSON.stringify({ type: 'subscribe', job_id: b, token: tokenA }));
    client.subscribe(c);
    await client.waitFor(() => client.controls.length >= 3, 'three answers');
    expect(client.controlsOf(a)[0]).toMatchObject({ type: 'subscribed' });
    expect(client.controlsOf(b)[0]).toMatchObject({ type: 'error', code: 'NOT_FOUND', message: `Job ${b} not found` });
    expect(client.controlsOf(c)[0]).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    await f.eventLog().append(a, { event_type: 'job_started', status: 'running', progress: 0, results_count: 0, message: null, metadata: {}, timestamp: new Date().toISOString() });
    await client.waitFor(() => client.eventsOf(a).some((e) => e.seq === 1), 'a live event of the allowed job');
    client.close();

    expect((await fetch(`http://${f.host}/sse/scraping/${a}`)).status).toBe(401);
    expect((await fetch(`http://${f.host}/sse/scraping/${b}?token=${tokenA}`)).status).toBe(404);
    const controller = new AbortController();
    const res = await fetch(`http://${f.host}/sse/scraping/${a}?token=${tokenA}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    controller.abort();
  });
});
