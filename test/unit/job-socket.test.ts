import { describe, expect, it } from 'vitest';
import { JobSocket, type JobSocketData } from '../../gateway/ws/job-socket.js';
import type { WebSocket } from '../../gateway/uws.js';
import { CLOSE_CODES } from '../../shared/protocol.js';

/*
 * A client's socket as the fan-out drives it, over a stand-in for the uWS socket whose send
 * results (1 sent, 0 backpressure building, 2 dropped) and buffered amount the test decides.
 */

class FakeWs {
  sent: string[] = [];
  buffered = 0;
  corks = 0;
  topics: string[] = [];
  ended: { code: number; reason: string } | null = null;
  /** Send result per call, in turn (1 when exhausted); a send adds `frameBytes` to the buffer unless dropped. */
  results: (0 | 1 | 2)[] = [];
  frameBytes = 10;
  inCork = false;

  cork(fn: () => void): void {
    this.corks += 1;
    this.inCork = true;
    fn();
    this.inCork = false;
  }
  send(frame: string | Buffer, isBinary: boolean): number {
    if (isBinary) throw new Error('frames are text');
    const result = this.results.shift() ?? 1;
    if (result !== 2) {
      this.sent.push(frame.toString());
      this.buffered += this.frameBytes;
    }
    return result;
  }
  getBufferedAmount(): number {
    return this.buffered;
  }
  subscribe(topic: string): boolean {
    this.topics.push(topic);
    return true;
  }
  end(code: number, reason: string): void {
    this.ended = { code, reason };
  }
}

function socketWith(ws: FakeWs, pacingBytes = 100) {
  const slow = { n: 0 };
  const socket = new JobSocket(1, 5, null, { pacingBytes, onSlowConsumer: () => (slow.n += 1) });
  socket.ws = ws as unknown as WebSocket<JobSocketData>;
  return { socket, slow };
}

const frames = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`);

describe('JobSocket.send', () => {
  it('sends every frame in one corked batch', () => {
    const ws = new FakeWs();
    const { socket } = socketWith(ws);
    socket.send(frames(3));
    expect(ws.sent).toEqual(['f0', 'f1', 'f2']);
    expect(ws.corks).toBe(1);
  });

  it('sends nothing when closed, detached or given nothing', () => {
    const ws = new FakeWs();
    const { socket } = socketWith(ws);
    socket.send([]);
    expect(ws.corks).toBe(0);
    socket.ws = null;
    socket.send(frames(1));
    socket.ws = ws as unknown as WebSocket<JobSocketData>;
    socket.closed = true;
    socket.send(frames(1));
    expect(ws.sent).toEqual([]);
  });

  it('closes with 4001 and stops at the first frame uWS dropped (backpressure limit)', () => {
    const ws = new FakeWs();
    ws.results = [1, 2, 1];
    const { socket, slow } = socketWith(ws);
    socket.send(frames(3));
    expect(ws.sent).toEqual(['f0']);
    expect(slow.n).toBe(1);
    expect(ws.ended).toEqual({ code: CLOSE_CODES.SLOW_CONSUMER, reason: 'slow consumer: resume from your last seq' });
    expect(socket.closed).toBe(true);
  });
});

describe('JobSocket.sendPaced', () => {
  it('sends everything at once while the buffer stays under the pacing limit', async () => {
    const ws = new FakeWs();
    const { socket } = socketWith(ws, 1000);
    await socket.sendPaced(frames(50));
    expect(ws.sent).toEqual(frames(50));
    expect(ws.corks).toBe(1);
  });

  it('stops a batch once the buffer passes the limit and resumes on drain', async () => {
    const ws = new FakeWs();
    const { socket } = socketWith(ws, 25); // a batch of 3 frames passes 25 bytes
    const done = socket.sendPaced(frames(6));
    await Promise.resolve();
    expect(ws.sent).toEqual(['f0', 'f1', 'f2']);
    ws.buffered = 0;
    const drainedAt = Date.now();
    socket.drained();
    await done;
    expect(ws.sent).toEqual(frames(6));
    expect(Date.now() - drainedAt, 'woken by the drain, not by the 100 ms recheck').toBeLessThan(50);
  });

  it('sends while the buffer is exactly at the limit, and stops only above it', async () => {
    const ws = new FakeWs();
    ws.buffered = 100;
    ws.frameBytes = 0;
    const { socket } = socketWith(ws, 100);
    await socket.sendPaced(frames(3));
    expect(ws.sent).toEqual(frames(3));
    expect(ws.corks).toBe(1);
  });

  it('stops a batch when uWS reports backpressure building (0), and carries on after', async () => {
    const ws = new FakeWs();
    ws.results = [1, 0, 1, 1];
    const { socket } = socketWith(ws, 1000);
    await socket.sendPaced(frames(4));
    expect(ws.sent).toEqual(frames(4));
    expect(ws.corks).toBe(2);
  });

  it('looks at the buffer again after a while even when no drain event comes', async () => {
    const ws = new FakeWs();
    ws.buffered = 500;
    const { socket } = socketWith(ws, 100);
    const started = Date.now();
    const done = socket.sendPaced(frames(2));
    setTimeout(() => (ws.buffered = 0), 20);
    await done;
    expect(ws.sent).toEqual(frames(2));
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('closes with 4001 when uWS drops a paced frame', async () => {
    const ws = new FakeWs();
    ws.results = [1, 2];
    const { socket, slow } = socketWith(ws, 1000);
    await socket.sendPaced(frames(5));
    expect(ws.sent).toEqual(['f0']);
    expect(slow.n).toBe(1);
    expect(ws.ended).toEqual({ code: CLOSE_CODES.SLOW_CONSUMER, reason: 'slow consumer: resume from your last seq' });
  });

  it('gives up when the socket closes while it waits for a drain', async () => {
    const ws = new FakeWs();
    ws.buffered = 500;
    const { socket } = socketWith(ws, 100);
    const done = socket.sendPaced(frames(2));
    socket.markClosed();
    await done;
    expect(ws.sent).toEqual([]);
    expect([socket.closed, socket.ws]).toEqual([true, null]);
  });
});

describe('JobSocket: topic and close', () => {
  it('joins a topic only while open', () => {
    const ws = new FakeWs();
    const { socket } = socketWith(ws);
    socket.joinTopic('job:5');
    socket.close(1000, 'bye');
    socket.joinTopic('job:6');
    expect(ws.topics).toEqual(['job:5']);
  });

  it('ends the uWS socket once, with the code and reason, and wakes a waiting paced send', async () => {
    const ws = new FakeWs();
    ws.buffered = 500;
    const { socket } = socketWith(ws, 100);
    const done = socket.sendPaced(frames(1));
    socket.close(4000, 'resync');
    socket.close(4001, 'again');
    await done;
    expect(ws.ended).toEqual({ code: 4000, reason: 'resync' });
  });

  it('does nothing on a socket uWS has not handed over yet', () => {
    const { socket } = socketWith(new FakeWs());
    socket.ws = null;
    expect(() => socket.joinTopic('job:5')).not.toThrow();
    expect(() => socket.close(1000, 'bye')).not.toThrow();
    expect(socket.closed).toBe(true);
  });

  it('keeps what it was created with', () => {
    const socket = new JobSocket(3, 9, { lastSeq: 4, epoch: null }, { pacingBytes: 1, onSlowConsumer: () => undefined });
    expect([socket.connNo, socket.jobId, socket.resume, socket.closed, socket.ws]).toEqual([3, 9, { lastSeq: 4, epoch: null }, false, null]);
  });
});
