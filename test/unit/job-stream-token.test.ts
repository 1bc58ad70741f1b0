import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { JobStream } from '../../shared/client/job-stream.js';
import { streamUrl } from '../../shared/client/stream-url.js';

const JOB = 7;

describe('JobStream watch tokens', () => {
  let server: WebSocketServer;
  let urls: URL[];
  let base: string;

  beforeEach(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    urls = [];
    // Every connection is dropped at once (1006-like): the client reconnects.
    server.on('connection', (socket, req) => {
      urls.push(new URL(req.url ?? '/', 'ws://fake'));
      socket.terminate();
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('puts a fixed token in the URL of every connection, beside the resume point', async () => {
    expect(streamUrl('http://gw:8000', JOB, { lastSeq: 3, epoch: '9' }, 'a.b.c')).toBe('ws://gw:8000/ws/scraping/7?last_seq=3&epoch=9&token=a.b.c');
    const stream = new JobStream({ baseUrl: base, jobId: JOB, WebSocket, token: 'tok.en.1', backoff: { baseMs: 5, maxMs: 10 }, keepaliveMs: 0 }).start();
    await expect.poll(() => urls.length).toBeGreaterThanOrEqual(2);
    await stream.close();
    expect(urls.every((u) => u.searchParams.get('token') === 'tok.en.1')).toBe(true);
  });

  it('calls a token function before each connection, sync or async, and retries when it fails', async () => {
    let calls = 0;
    const errors: string[] = [];
    const stream = new JobStream({
      baseUrl: base,
      jobId: JOB,
      WebSocket,
      backoff: { baseMs: 5, maxMs: 10 },
      keepaliveMs: 0,
      token: () => {
        calls += 1;
        if (calls === 2) return Promise.reject(new Error('network down'));
        return calls % 2 ? `t.${calls}.x` : Promise.resolve(`t.${calls}.y`);
      },
    });
    stream.on('error', (e) => errors.push(e.code));
    stream.start();
    await expect.poll(() => urls.length).toBeGreaterThanOrEqual(3);
    await stream.close();
    expect(urls.slice(0, 3).map((u) => u.searchParams.get('token'))).toEqual(['t.1.x', 't.3.x', 't.4.y']);
    expect(errors).toContain('TOKEN_UNAVAILABLE');
  });
});
