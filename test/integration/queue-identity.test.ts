import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertPendingJob, findJob } from '../../shared/db/jobs.repository.js';
import { bullmqJobId, enqueueScrape } from '../../shared/queue.js';
import { params, waitForFinishedJob } from '../helpers/jobs.js';
import { startWorkerFixture, type WorkerFixture } from '../helpers/worker-fixture.js';

describe('queue entries bound to the job row', () => {
  let f: WorkerFixture;
  beforeAll(async () => {
    f = await startWorkerFixture({ SCRAPER_LATENCY_MS: '0' });
  });
  afterAll(() => f?.close());

  it('replaces a waiting entry of another row of the same id, and keeps its own', async () => {
    const id = 900;
    await f.queue.add('scrape', { jobId: id, identity: 'old-row' }, { jobId: bullmqJobId(id) });
    await enqueueScrape(f.queue, id, 'new-row');
    const entry = await f.queue.getJob(bullmqJobId(id));
    expect(entry?.data).toEqual({ jobId: id, identity: 'new-row' });
    await enqueueScrape(f.queue, id, 'new-row'); // its own: left as it is
    expect((await f.queue.getJob(bullmqJobId(id)))?.timestamp).toBe(entry?.timestamp);
    await (await f.queue.getJob(bullmqJobId(id)))?.remove();
  });

  it("a worker skips an entry queued for another row: the row stays pending and no stream is written; its own entry runs", async () => {
    const row = await insertPendingJob(f.pg.db, params({ destinations: ['BCN'], scrapers: ['sim-kiwi'] }));
    await f.queue.add('scrape', { jobId: row.id, identity: '00000000-0000-4000-8000-000000000000' }, { jobId: bullmqJobId(row.id) });
    const worker = await f.start('worker-identity');
    await worker.waitForLog('queue entry of another job row; skipped');
    expect((await findJob(f.pg.db, row.id))?.status).toBe('pending');
    expect(await f.t.redis.exists(f.keys.jobState(row.id))).toBe(0);
    await enqueueScrape(f.queue, row.id, row.identity);
    expect((await waitForFinishedJob(f.pg.db, row.id)).status).toBe('completed');
    expect(await f.t.redis.hget(f.keys.jobState(row.id), 'identity')).toBe(row.identity);
  });
});
