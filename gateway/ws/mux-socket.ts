import { CLOSE_CODES, PING_TEXT, PONG_TEXT } from '../../shared/protocol.js';
import { clientMessageSchema, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, type SubscribeMessage } from '../../shared/protocol-v2.js';
import type { GatewayContext } from '../context.js';
import { immediate, reply, sendError, sendUnavailable } from '../http/responses.js';
import type { TemplatedApp } from '../uws.js';
import type { ReadDecision } from '../auth/auth-hook.js';
import { credentialsOf } from '../auth/credentials.js';
import { authorizeWatch, NO_CREDENTIALS, refusalOf } from './access.js';
import { admitAddress, AddressSlot, checkAddressNow, releaseAddress, sendAddressRefusal } from './address-admission.js';
import { deliverySpec } from './delivery-spec.js';
import { MuxConnection, MuxSubscription, type MuxSettings, type MuxSocketData } from './mux-connection.js';
import { serveJoin } from './serve-join.js';
import { streamSocketOptions } from './socket-options.js';

/** Open WS /ws connections of this process: the drain closes those holding no job too. */
const openConnections = new Set<MuxConnection>();

/** Connections of WS /ws without any subscription (the fan-out knows only those with one). */
export function idleMuxConnections(): MuxConnection[] {
  return [...openConnections].filter((c) => c.subscriptions.size === 0 && !c.closed);
}

/** The subprotocol answered for an offer: MessagePack when offered, else JSON (named if offered). */
export function chooseSubprotocol(offered: string): { format: 'json' | 'msgpack'; protocol: string } {
  const names = offered.split(',').map((name) => name.trim());
  if (names.includes(SUBPROTOCOL_MSGPACK)) return { format: 'msgpack', protocol: SUBPROTOCOL_MSGPACK };
  return { format: 'json', protocol: names.includes(SUBPROTOCOL_JSON) ? SUBPROTOCOL_JSON : '' };
}

/**
 * WS /ws — protocol v2: one connection, any number of jobs. JSON text messages subscribe,
 * unsubscribe and ping; each job is answered with `subscribed` and its snapshot or history, then its
 * events, or with a per-job `error` that leaves the connection and its other jobs alone.
 */
export function registerMuxSocket(app: TemplatedApp, ctx: GatewayContext): void {
  const { config, log, channels, state } = ctx;
  const allowed = new Set(config.gateway.allowedOrigins);
  const settings: MuxSettings = {
    pacingBytes: config.gateway.maxBackpressureBytes / 2,
    compress: config.gateway.compression !== 'off',
    maxSubscriptions: config.gateway.maxSubscriptionsPerConnection,
    onSlowConsumer: () => {
      state.slowConsumersClosed += 1;
    },
    detach: (jobId, subscription) => channels.detach(jobId, subscription),
  };

  function subscribe(connection: MuxConnection, message: SubscribeMessage): void {
    const jobId = message.job_id;
    const refuse = (code: string, text: string) => connection.control({ type: 'error', job_id: jobId, code, message: text });
    if (connection.subscriptions.has(jobId)) return refuse('ALREADY_SUBSCRIBED', `job ${jobId} is already subscribed on this connection`);
    if (connection.subscriptions.size >= settings.maxSubscriptions) {
      return refuse('TOO_MANY_SUBSCRIPTIONS', `at most ${settings.maxSubscriptions} subscriptions per connection`);
    }
    const spec = deliverySpec(connection.format, message.event_types, message.progress_interval_ms);
    const subscription = new MuxSubscription(connection, jobId, spec);
    connection.subscriptions.set(jobId, subscription);
    const resume = message.last_seq !== undefined ? { lastSeq: message.last_seq, epoch: message.epoch ?? null } : null;
    // The subscription's own token, else the connection's credentials: checked per job.
    const proceed = (decision: ReadDecision) => {
      if (subscription.closed) return;
      if (!decision.ok) {
        const { code, reason } = refusalOf(decision, jobId);
        subscription.refuse([], code, reason);
        return;
      }
      void channels.attach(jobId, subscription, () => serveJoin(ctx, jobId, resume), { shareable: resume === null });
    };
    const decision = authorizeWatch(ctx, connection.credentials, jobId, message.token);
    if (decision instanceof Promise) decision.then(proceed, () => subscription.refuse([], CLOSE_CODES.UNAVAILABLE, 'access check failed; subscribe again'));
    else proceed(decision);
  }

  function unsubscribe(connection: MuxConnection, jobId: number): void {
    const subscription = connection.subscriptions.get(jobId);
    if (!subscription) {
      connection.control({ type: 'error', job_id: jobId, code: 'NOT_SUBSCRIBED', message: `job ${jobId} is not subscribed on this connection` });
      return;
    }
    subscription.end();
    connection.control({ type: 'unsubscribed', job_id: jobId });
  }

  app.ws<MuxSocketData>('/ws', {
    ...streamSocketOptions(config),
    maxPayloadLength: 16 * 1024,

    upgrade: (res, req, context) => {
      const origin = req.getHeader('origin');
      const key = req.getHeader('sec-websocket-key');
      const offered = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // ?token=, Authorization: Bearer, or a token entry of Sec-WebSocket-Protocol, as on the legacy path.
      const credentials = ctx.auth.enabled ? credentialsOf(req, offered) : NO_CREDENTIALS;
      if (state.draining) {
        ctx.metrics.upgrade('draining');
        sendError(immediate(res), 503, 'DRAINING', 'gateway is shutting down; connect again');
        return;
      }
      if (origin && allowed.size > 0 && !allowed.has(origin)) {
        ctx.metrics.upgrade('forbidden');
        sendError(immediate(res), 403, 'ORIGIN_NOT_ALLOWED', `origin ${origin} is not allowed`);
        return;
      }
      const { format, protocol } = chooseSubprotocol(offered);
      // The legacy path's per-address limits: the upgrade rate, and one connection slot however
      // many jobs the connection then subscribes (given back in close).
      const ip = ctx.clientIp.of(res, req);
      const now = checkAddressNow(ctx, ip);
      const upgrade = () => {
        const data: MuxSocketData = { connection: new MuxConnection(state.connectionsOpened + 1, format, credentials, settings, new AddressSlot(ctx, ip)) };
        ctx.metrics.upgrade('accepted');
        res.upgrade(data, key, protocol, extensions, context);
      };
      if (now === 'allowed') return upgrade();
      const r = reply(res);
      admitAddress(ctx, ip, now).then(
        (refused) => {
          if (r.aborted) {
            if (!refused) releaseAddress(ctx, ip);
            return;
          }
          if (refused) {
            ctx.metrics.upgrade('rate_limited');
            sendAddressRefusal(r, refused);
            return;
          }
          r.aborted = true;
          res.cork(upgrade);
        },
        (error: unknown) => sendUnavailable(log, r, error),
      );
    },

    open: (ws) => {
      state.connections += 1;
      state.connectionsOpened += 1;
      const { connection } = ws.getUserData();
      connection.ws = ws;
      openConnections.add(connection);
      log.debug({ conn: connection.connNo, format: connection.format }, 'multiplexed client connected');
    },

    message: (ws, message, isBinary) => {
      const { connection } = ws.getUserData();
      const text = isBinary ? null : Buffer.from(message).toString();
      if (text === PING_TEXT) {
        ws.send(PONG_TEXT, false);
        return;
      }
      let json: unknown;
      try {
        json = text === null ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = clientMessageSchema.safeParse(json);
      if (!parsed.success) {
        const jobId = (json as { job_id?: unknown } | undefined)?.job_id;
        const problem = json === undefined ? 'messages are JSON text' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        connection.control({ type: 'error', job_id: Number.isInteger(jobId) && (jobId as number) > 0 ? jobId : null, code: 'BAD_REQUEST', message: problem });
        return;
      }
      const msg = parsed.data;
      if (msg.type === 'ping') connection.control({ type: 'pong' });
      else if (msg.type === 'subscribe') subscribe(connection, msg);
      else unsubscribe(connection, msg.job_id);
    },

    drain: (ws) => {
      ws.getUserData().connection.drained();
    },

    close: (ws, code) => {
      state.connections -= 1;
      const { connection } = ws.getUserData();
      const jobs = connection.subscriptions.size;
      openConnections.delete(connection);
      connection.markClosed();
      connection.slot?.release();
      log.debug({ conn: connection.connNo, jobs, code }, 'multiplexed client disconnected');
    },
  });
}
