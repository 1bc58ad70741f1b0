import { z } from 'zod';
import { jobIdFromPath, jobIdParamSchema } from '../../shared/api.js';
import { PING_TEXT, PONG_TEXT } from '../../shared/protocol.js';
import { eventTypesQuerySchema, progressIntervalQuerySchema } from '../../shared/protocol-v2.js';
import type { GatewayContext } from '../context.js';
import { immediate, sendError } from '../http/responses.js';
import type { TemplatedApp } from '../uws.js';
import { deliverySpec, PLAIN_JSON, type DeliverySpec } from './delivery-spec.js';
import { JobSocket, type JobSocketData, type JobSocketSettings } from './job-socket.js';
import { serveJoin, type ResumePoint } from './serve-join.js';
import { compressionOf } from './socket-options.js';

/** The upgrade request of WS /ws/scraping/{job_id}: path id and optional resume point. */
const upgradeSchema = z.object({
  job_id: jobIdParamSchema,
  last_seq: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number)
    .optional(),
  epoch: z.string().regex(/^\d{1,24}$/, 'must be the epoch a previous event carried').optional(),
  event_types: eventTypesQuerySchema.optional(),
  progress_interval_ms: progressIntervalQuerySchema.optional(),
});

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
  const settings: JobSocketSettings = {
    pacingBytes: config.gateway.maxBackpressureBytes / 2,
    compress: config.gateway.compression !== undefined && config.gateway.compression !== 'off',
    onSlowConsumer: () => {
      state.slowConsumersClosed += 1;
    },
  };

  app.ws<JobSocketData>('/ws/scraping/:job_id', {
    compression: compressionOf(config),
    maxPayloadLength: 4 * 1024,
    idleTimeout: config.gateway.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    maxBackpressure: config.gateway.maxBackpressureBytes,
    // Past the limit uWS drops the socket; its client resumes from its last seq.
    closeOnBackpressureLimit: 1,

    upgrade: (res, req, context) => {
      const origin = req.getHeader('origin');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // The common request, a plain job id without resume, is checked without a zod result.
      const plainJobId = req.getQuery() === '' ? jobIdFromPath(req.getParameter(0)) : null;
      const parsed =
        plainJobId === null
          ? upgradeSchema.safeParse({
              job_id: req.getParameter(0),
              last_seq: req.getQuery('last_seq') || undefined,
              epoch: req.getQuery('epoch') || undefined,
              event_types: req.getQuery('event_types') || undefined,
              progress_interval_ms: req.getQuery('progress_interval_ms') || undefined,
            })
          : null;
      if (state.draining) {
        ctx.metrics.upgrade('draining');
        sendError(immediate(res), 503, 'DRAINING', 'gateway is shutting down; connect again');
        return;
      }
      if (parsed && !parsed.success) {
        const issues = parsed.error.issues;
        const badId = issues.find((i) => i.path[0] === 'job_id');
        ctx.metrics.upgrade('bad_request');
        const problem = issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        const badResume = issues.some((i) => i.path[0] === 'last_seq' || i.path[0] === 'epoch');
        if (badId) sendError(immediate(res), 400, 'BAD_JOB_ID', `job id must be a positive integer, got "${req.getParameter(0)}"`);
        else if (badResume) sendError(immediate(res), 400, 'BAD_RESUME_POINT', problem);
        else sendError(immediate(res), 400, 'BAD_SUBSCRIPTION', problem);
        return;
      }
      if (origin && allowed.size > 0 && !allowed.has(origin)) {
        ctx.metrics.upgrade('forbidden');
        sendError(immediate(res), 403, 'ORIGIN_NOT_ALLOWED', `origin ${origin} is not allowed`);
        return;
      }
      let jobId = plainJobId!;
      let resume: ResumePoint | null = null;
      let spec: DeliverySpec = PLAIN_JSON;
      if (parsed) {
        const { job_id, last_seq, epoch, event_types, progress_interval_ms } = parsed.data;
        jobId = job_id;
        if (last_seq !== undefined) resume = { lastSeq: last_seq, epoch: epoch ?? null };
        spec = deliverySpec('json', event_types, progress_interval_ms);
      }
      const data: JobSocketData = { socket: new JobSocket(state.connectionsOpened + 1, jobId, resume, settings, spec) };
      ctx.metrics.upgrade('accepted');
      res.upgrade(data, key, protocol, extensions, context);
    },

    open: (ws) => {
      state.connections += 1;
      state.connectionsOpened += 1;
      const { socket } = ws.getUserData();
      socket.ws = ws;
      log.debug({ conn: socket.connNo, jobId: socket.jobId, resume: socket.resume }, 'client connected');
      void channels.attach(socket.jobId, socket, () => serveJoin(ctx, socket.jobId, socket.resume), { shareable: socket.resume === null });
    },

    message: (ws, message, isBinary) => {
      if (!isBinary && message.byteLength === PING_TEXT.length && Buffer.from(message).toString() === PING_TEXT) {
        ws.send(PONG_TEXT, false);
        return;
      }
      ws.send(UNKNOWN_FRAME, false);
    },

    drain: (ws) => {
      ws.getUserData().socket.drained();
    },

    close: (ws, code) => {
      state.connections -= 1;
      const { socket } = ws.getUserData();
      socket.markClosed();
      channels.detach(socket.jobId, socket);
      log.debug({ conn: socket.connNo, jobId: socket.jobId, code }, 'client disconnected');
    },
  });
}
