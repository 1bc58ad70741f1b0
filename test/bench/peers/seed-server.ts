/**
 * Peer 1, the seed design in Node: a `ws` server, ONE Redis subscription for the events of all
 * jobs (a pattern over the per-job channels the real emit script publishes to, standing in for
 * the seed's single "scraping_events" channel), a map job → sockets, and every message parsed and
 * serialized again for each socket it goes to, as issue 5 describes the original. The job id is
 * read from the channel name, so a job nobody watches costs no parse.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger } from '../../../shared/logger.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import { peerEnv } from './peer-env.js';

const env = peerEnv();
const log = createLogger('seed-server', 'info');
const keys = new RedisKeys(env.KEY_PREFIX);
const jobs = new Map<number, Set<WebSocket>>();

const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on('upgrade', (req, socket, head) => {
  const match = /^\/ws\/scraping\/(\d+)/.exec(req.url ?? '');
  if (!match) return void socket.destroy();
  const jobId = Number(match[1]);
  wss.handleUpgrade(req, socket, head, (ws) => {
    let sockets = jobs.get(jobId);
    if (!sockets) jobs.set(jobId, (sockets = new Set()));
    sockets.add(ws);
    ws.send(JSON.stringify({ job_id: jobId, event_type: 'job_progress', status: 'running', message: `Connected to job ${jobId}` }));
    ws.on('message', (data) => {
      if (data.toString() === 'ping') ws.send('pong');
    });
    ws.on('close', () => {
      sockets.delete(ws);
      if (sockets.size === 0) jobs.delete(jobId);
    });
  });
});

const subscriber = new Redis(env.REDIS_URL);
await new Promise<void>((resolve) => subscriber.once('ready', () => resolve()));
await subscriber.psubscribe(`${env.KEY_PREFIX}{job:*}:events`);
subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
  const sockets = jobs.get(keys.jobIdOfChannel(channel) ?? -1);
  if (!sockets) return;
  for (const ws of sockets) ws.send(JSON.stringify(JSON.parse(message) as unknown));
});

server.listen(env.PORT, '127.0.0.1', () => {
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : env.PORT }, 'listening');
});
process.on('SIGTERM', () => process.exit(0));
