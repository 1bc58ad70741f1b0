import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { jobIdParamSchema } from '../../shared/api.js';
import { CLOSE_CODES, PING_TEXT, PONG_TEXT } from '../../shared/protocol.js';
import type { GatewayContext } from '../context.js';
import { reply, sendError } from '../http/responses.js';
import { uWS, type TemplatedApp, type WebSocket } from '../uws.js';
import type { ChannelSocket } from './job-channels.js';
import { serveJoin, type ResumePoint } from './serve-join.js';

/** The upgrade request of WS /ws/scraping/{job_id}: path id and optional resume point. */
const upgradeSchema = z.object({
  job_id: jobIdParamSchema,
  last_seq: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number)
    .optional(),
  epoch: z.string().regex(/^\d{1,24}$/, 'must be the epoch a previous event carried').optional(),
});

interface SocketData {
  connId: string;
  jobId: number;
  resume: ResumePoint | null;
  handle: SocketHandle | null;
}

const UNKNOWN_FRAME = JSON.stringify({
  error: { code: 'UNKNOWN_MESSAGE', message: `this endpoint understands only the text "${PING_TEXT}"` },
});

/**
 * WS /ws/scraping/{job_id}[?last_seq=N[&epoch=E]] — the seed-compatible endpoint: a snapshot (or
 * the events after last_seq), then every event of the job live, in seq order.
 */
export function registerScrapingSocket(app: TemplatedApp, ctx: GatewayContext): void {
  const { config, log, channels, state } = ctx;
  const allowed = new Set(config.gateway.allowedOrigins);

  app.ws<SocketData>('/ws/scraping/:job_id', {
    compression: uWS.DISABLED,
    maxPayloadLength: 4 * 1024,
    idleTimeout: config.gateway.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    maxBackpressure: config.gateway.maxBackpressureBytes,
    // Past the limit uWS drops the socket; its client resumes from its last seq.
    closeOnBackpressureLimit: 1,

    upgrade: (res, req, context) => {
      const r = reply(res);
      const origin = req.getHeader('origin');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const parsed = upgradeSchema.safeParse({
        job_id: req.getParameter(0),
        last_seq: req.getQuery('last_seq') || undefined,
        epoch: req.getQuery('epoch') || undefined,
      });
      if (state.draining) {
        sendError(r, 503, 'DRAINING', 'gateway is shutting down; connect again');
        return;
      }
      if (!parsed.success) {
        const problem = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        sendError(r, 400, 'BAD_REQUEST', problem);
        return;
      }
      if (origin && allowed.size > 0 && !allowed.has(origin)) {
        sendError(r, 403, 'ORIGIN_NOT_ALLOWED', `origin ${origin} is not allowed`);
        return;
      }
      const { job_id, last_seq, epoch } = parsed.data;
      const data: SocketData = {
        connId: randomUUID(),
        jobId: job_id,
        resume: last_seq === undefined ? null : { lastSeq: last_seq, epoch: epoch ?? null },
        handle: null,
      };
      res.upgrade(data, key, protocol, extensions, context);
    },

    open: (ws) => {
      state.connections += 1;
      state.connectionsOpened += 1;
      const data = ws.getUserData();
      const handle = socketHandle(ws, config.gateway.maxBackpressureBytes / 2, () => {
        state.slowConsumersClosed += 1;
      });
      data.handle = handle;
      log.debug({ connId: data.connId, jobId: data.jobId, resume: data.resume }, 'client connected');
      void channels.attach(data.jobId, handle, () => serveJoin(ctx, data.jobId, data.resume));
    },

    message: (ws, message, isBinary) => {
      if (!isBinary && message.byteLength === PING_TEXT.length && Buffer.from(message).toString() === PING_TEXT) {
        ws.send(PONG_TEXT, false);
        return;
      }
      ws.send(UNKNOWN_FRAME, false);
    },

    drain: (ws) => {
      ws.getUserData().handle?.drained();
    },

    close: (ws, code) => {
      state.connections -= 1;
      const data = ws.getUserData();
      if (data.handle) {
        data.handle.markClosed();
        channels.detach(data.jobId, data.handle);
      }
      log.debug({ connId: data.connId, jobId: data.jobId, code }, 'client disconnected');
    },
  });
}

interface SocketHandle extends ChannelSocket {
  /** The socket's send buffer drained (uWS drain event). */
  drained(): void;
  /** The socket closed (uWS close event): stop using it. */
  markClosed(): void;
}

/** The channel layer's view of a uWS socket. */
function socketHandle(ws: WebSocket<SocketData>, pacingBytes: number, onSlowConsumer: () => void): SocketHandle {
  let closed = false;
  let wakeOnDrain: (() => void) | null = null;
  const wake = () => {
    wakeOnDrain?.();
    wakeOnDrain = null;
  };
  const handle: SocketHandle = {
    get closed() {
      return closed;
    },
    send(frames) {
      if (closed || frames.length === 0) return;
      ws.cork(() => {
        for (const frame of frames) {
          // 2 = dropped: the socket is past its backpressure limit.
          if (ws.send(frame, false) === 2) {
            onSlowConsumer();
            handle.close(CLOSE_CODES.SLOW_CONSUMER, 'slow consumer: resume from your last seq');
            return;
          }
        }
      });
    },
    async sendPaced(frames) {
      let next = 0;
      while (next < frames.length && !closed) {
        if (ws.getBufferedAmount() > pacingBytes) {
          await new Promise<void>((resolve) => (wakeOnDrain = resolve));
          continue;
        }
        ws.cork(() => {
          while (next < frames.length && ws.getBufferedAmount() <= pacingBytes) ws.send(frames[next++]!, false);
        });
      }
    },
    joinTopic(topic) {
      if (!closed) ws.subscribe(topic);
    },
    close(code, reason) {
      if (closed) return;
      closed = true;
      wake();
      ws.end(code, reason);
    },
    drained: wake,
    markClosed() {
      closed = true;
      wake();
    },
  };
  return handle;
}
