/**
 * S6's load client process: holds WebSocket connections that each watch one job (the legacy
 * `/ws/scraping/{id}`) or several (`/ws`, one subscribe message per job), and counts the frames
 * they receive. Counting is all it does per frame, so that the gateway's CPU is what S6 compares.
 * Connections come from source addresses 127.0.0.2–127.0.0.250 (loopback ports per address last).
 */
import WebSocket from 'ws';
import { benchWatchToken } from '../lib/watch-token.js';

export interface CountConnection {
  port: number;
  /** One job: a legacy job socket; several: a `/ws` connection subscribing to each. */
  jobs: number[];
  mux: boolean;
}

export type CountCommand =
  | { type: 'connect'; id: number; connections: CountConnection[]; globalOffset: number; auth: boolean; window: number; timeoutMs: number }
  | { type: 'count'; id: number }
  | { type: 'disconnect'; id: number };

export type CountReply =
  | { type: 'ready' }
  | { type: 'connected'; id: number; opened: number; failed: number; errors: Record<string, number> }
  | { type: 'count'; id: number; frames: number; open: number }
  | { type: 'ack'; id: number };

const FIRST_HOST = 2;
const HOSTS = 249;
const sockets: WebSocket[] = [];
let frames = 0;

function open(c: CountConnection, localAddress: string, auth: boolean, timeoutMs: number): Promise<boolean> {
  const query = (job: number) => (auth ? `?token=${benchWatchToken(job)}` : '');
  const url = c.mux ? `ws://127.0.0.1:${c.port}/ws` : `ws://127.0.0.1:${c.port}/ws/scraping/${c.jobs[0]}${query(c.jobs[0]!)}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress, handshakeTimeout: timeoutMs });
    ws.on('message', () => void (frames += 1));
    ws.once('open', () => {
      if (c.mux) for (const job of c.jobs) ws.send(JSON.stringify({ type: 'subscribe', job_id: job, ...(auth ? { token: benchWatchToken(job) } : {}) }));
      sockets.push(ws);
      resolve(true);
    });
    ws.once('error', (error) => {
      errors[error.message] = (errors[error.message] ?? 0) + 1;
      resolve(false);
    });
  });
}

let errors: Record<string, number> = {};

async function connectAll(command: Extract<CountCommand, { type: 'connect' }>): Promise<CountReply> {
  errors = {};
  let opened = 0;
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < command.connections.length) {
      const i = next++;
      const host = `127.0.0.${FIRST_HOST + ((command.globalOffset + i) % HOSTS)}`;
      if (await open(command.connections[i]!, host, command.auth, command.timeoutMs)) opened += 1;
      else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: command.window }, worker));
  return { type: 'connected', id: command.id, opened, failed, errors };
}

const send = (reply: CountReply) => process.send!(reply);

process.on('message', (command: CountCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command).then(send);
      break;
    case 'count':
      send({ type: 'count', id: command.id, frames, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length });
      break;
    case 'disconnect':
      for (const ws of sockets) ws.terminate();
      sockets.length = 0;
      frames = 0;
      send({ type: 'ack', id: command.id });
      break;
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
