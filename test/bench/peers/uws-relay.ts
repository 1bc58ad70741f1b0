/**
 * Peer 3, the bare uWS relay: the limit of this stack. A job's Redis channel is subscribed for
 * its first local client and forwarded as is with app.publish to a topic named after the channel;
 * nothing else — no snapshot, no resume, no seq checks, no per-socket state.
 */
import { Redis } from 'ioredis';
import uWS from 'uWebSockets.js';
import { createLogger } from '../../../shared/logger.js';
import { RedisKeys } from '../../../shared/redis/keys.js';
import { peerEnv } from './peer-env.js';

const env = peerEnv();
const log = createLogger('uws-relay', 'info');
const keys = new RedisKeys(env.KEY_PREFIX);
const subscriber = new Redis(env.REDIS_URL);
const refs = new Map<string, number>();

interface RelayData {
  channel: string;
}

const app = uWS.App().ws<RelayData>('/ws/scraping/:job_id', {
  compression: uWS.DISABLED,
  maxPayloadLength: 4 * 1024,
  idleTimeout: 120,
  maxBackpressure: env.WS_MAX_BACKPRESSURE_BYTES,
  closeOnBackpressureLimit: 1,
  upgrade: (res, req, context) => {
    const channel = keys.jobChannel(Number(req.getParameter(0)));
    res.upgrade<RelayData>(
      { channel },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const { channel } = ws.getUserData();
    ws.subscribe(channel);
    const n = refs.get(channel) ?? 0;
    refs.set(channel, n + 1);
    if (n === 0) void subscriber.subscribe(channel);
  },
  close: (ws) => {
    const { channel } = ws.getUserData();
    const n = (refs.get(channel) ?? 1) - 1;
    if (n > 0) return void refs.set(channel, n);
    refs.delete(channel);
    void subscriber.unsubscribe(channel);
  },
});

subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
  app.publish(channel, payload, false);
});

// A SUBSCRIBE queued before the connection's ready check is lost to it: listen once Redis is ready.
await new Promise<void>((resolve) => subscriber.once('ready', () => resolve()));
const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (s: unknown) => void) => void;
listen.call(app, '127.0.0.1', env.PORT, env.LISTEN_EXCLUSIVE_PORT === 'true' ? 1 : 0, (socket) => {
  if (!socket) {
    log.fatal({ port: env.PORT }, 'could not listen');
    process.exit(1);
  }
  log.info({ port: uWS.us_socket_local_port(socket as uWS.us_listen_socket) }, 'listening');
});
process.on('SIGTERM', () => process.exit(0));
