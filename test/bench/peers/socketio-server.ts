/**
 * Peer 2, Socket.IO 4: @socket.io/redis-adapter between servers, a room per job, events
 * published by the bench with @socket.io/redis-emitter. Clients speak engine.io v4 over a plain
 * WebSocket and ask for their job with `42["join","<id>"]`.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createLogger } from '../../../shared/logger.js';
import { peerEnv } from './peer-env.js';

const env = peerEnv();
const log = createLogger('socketio-server', 'info');
const pub = new Redis(env.REDIS_URL);
const sub = pub.duplicate();

const io = new Server({
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: `${env.KEY_PREFIX}socket.io` }),
});

io.on('connection', (socket) => {
  socket.on('join', (jobId: unknown) => {
    if (typeof jobId === 'string' && /^\d+$/.test(jobId)) void socket.join(`job:${jobId}`);
  });
});

const httpServer = createServer();
io.attach(httpServer);
httpServer.listen(env.PORT, '127.0.0.1', () => {
  const address = httpServer.address();
  log.info({ port: typeof address === 'object' && address ? address.port : env.PORT }, 'listening');
});
process.on('SIGTERM', () => process.exit(0));
