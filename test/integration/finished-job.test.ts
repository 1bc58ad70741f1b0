import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { JobStream } from '../../shared/client/job-stream.js';
import { insertPendingJob, markJobCompleted, markJobFailed } from '../../shared/db/jobs.repository.js';
import type { EventDraft, EventType, JobStatus } from '../../shared/events.js';
import type { JobEventLog } from '../../shared/redis/job-event-log.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { params } from '../helpers/jobs.js';
import { RecordingClient } from '../helpers/ws-client.js';

/**
 * The Python client of the original document ("WebSocket Real-Time Updates", Python Example),
 * verbatim but for its URI and job id. It loops until job_completed or job_failed.
 */
const SEED_PYTHON_CLIENT = (port: number, jobId: number) => `
import asyncio
import json
import websockets

async def monitor_scraping_job(job_id: int):
    uri = f"ws://127.0.0.1:${port}/ws/scraping/{job_id}"

    async with websockets.connect(uri) as websocket:
        print(f"Connected to job {job_id}")

        while True:
            message = await websocket.recv()
            event = json.loads(message)

            print(f"[{event['event_type']}] {event['message']}")
            print(f"Progress: {event.get('progress')}%")
            print(f"Results: {event['results_count']}")

            if event['event_type'] in ['job_completed', 'job_failed']:
                break

# Run
asyncio.run(monitor_scraping_job(${jobId}))
`;

/** Debian's interpreter, which has python3-websockets (a python3 earlier on PATH may not). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function runPython(source: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function draft(type: EventType, status: JobStatus, progress: number | null, results = 0, message = `${type}`): EventDraft {
  return { event_type: type, status, progress, results_count: results, message, metadata: {}, timestamp: new Date().toISOString() };
}

describe('a watcher of a job that has already finished learns it at once', () => {
  let f: GatewayFixture;
  let log: JobEventLog;

  beforeAll(async () => {
    f = await startGatewayFixture();
    log = f.eventLog();
  });
  afterAll(() => f?.close());

  /** A job whose whole stream is in Redis: started, 2 progress events, completed at seq 4. */
  async function finishedJob(end: 'job_completed' | 'job_failed' = 'job_completed'): Promise<number> {
    const { id } = await insertPendingJob(f.database.db, params());
    await log.append(id, draft('job_started', 'running', 0));
    await log.append(id, draft('job_progress', 'running', 50, 3));
    await log.append(id, draft('results_updated', 'running', 80, 5));
    if (end === 'job_completed') {
      await markJobCompleted(f.database.db, id, { itemsScraped: 5, lastSeq: 4 });
      await log.append(id, draft('job_completed', 'completed', 100, 5, 'Job completed: 5 flights saved'));
    } else {
      await markJobFailed(f.database.db, id, { errorMessage: 'every search failed', lastSeq: 4 });
      await log.append(id, draft('job_failed', 'failed', 80, 5, 'Job failed: every search failed'));
    }
    return id;
  }

  it('the gateway sends the snapshot, then the job_completed of the stream at the same seq', async () => {
    const id = await finishedJob();
    const client = new RecordingClient(`ws://${f.host}/ws/scraping/${id}`);
    await client.waitForEvent((e) => e.event_type === 'job_completed');
    expect(client.events.map((e) => [e.seq, e.event_type, e.status])).toEqual([
      [4, 'job_progress', 'completed'],
      [4, 'job_completed', 'completed'],
    ]);
    expect(client.events[0]!.metadata).toMatchObject({ snapshot: true });
    expect(client.events[1]!.message).toBe('Job completed: 5 flights saved');
    client.close();
  });

  it('a job Redis no longer holds: the terminal event is rebuilt from its row', async () => {
    const { id } = await insertPendingJob(f.database.db, params());
    await markJobFailed(f.database.db, id, { errorMessage: 'every search failed', lastSeq: 9 });
    const client = new RecordingClient(`ws://${f.host}/ws/scraping/${id}`);
    await client.waitForEvent((e) => e.event_type === 'job_failed');
    expect(client.events.map((e) => [e.seq, e.event_type, e.status])).toEqual([
      [9, 'job_progress', 'failed'],
      [9, 'job_failed', 'failed'],
    ]);
    expect(client.events[1]!.message).toBe('Job failed: every search failed');
    client.close();
  });

  it('a resume from history ends on the stream\'s own terminal event, sent once', async () => {
    const id = await finishedJob('job_failed');
    const client = new RecordingClient(`ws://${f.host}/ws/scraping/${id}?last_seq=2`);
    await client.waitForEvent((e) => e.event_type === 'job_failed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.seqs).toEqual([3, 4]);
    client.close();
  });

  it("the SDK's finished() resolves with the job's terminal event", async () => {
    const id = await finishedJob();
    const stream = new JobStream({ baseUrl: `http://${f.host}`, jobId: id, WebSocket });
    const events: string[] = [];
    stream.on('event', (e) => events.push(`${e.seq} ${e.event_type}`));
    const end = await stream.start().finished();
    expect(end).toMatchObject({ seq: 4, event_type: 'job_completed', status: 'completed' });
    expect(end!.metadata.snapshot).toBeUndefined();
    expect(events).toEqual(['4 job_completed']);
  });

  it("the original document's Python client (python3-websockets) ends on a finished job", async () => {
    const id = await finishedJob();
    const run = await runPython(SEED_PYTHON_CLIENT(Number(f.host.split(':')[1]), id), 10_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.ms).toBeLessThan(5_000);
    expect(run.stdout.trim().split('\n')).toEqual([
      `Connected to job ${id}`,
      `[job_progress] Connected to job ${id}`,
      'Progress: 100%',
      'Results: 5',
      '[job_completed] Job completed: 5 flights saved',
      'Progress: 100%',
      'Results: 5',
    ]);
  });
});
