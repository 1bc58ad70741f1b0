import { z } from 'zod';
import { jobIdParamSchema } from '../../shared/api.js';
import { eventTypesQuerySchema, parseSseEventId, progressIntervalQuerySchema } from '../../shared/protocol-v2.js';
import type { GatewayContext } from '../context.js';
import { immediate, sendError } from '../http/responses.js';
import type { TemplatedApp } from '../uws.js';
import type { ReadDecision } from '../auth/auth-hook.js';
import { credentialsOf } from '../auth/credentials.js';
import { authorizeWatch, NO_CREDENTIALS } from './access.js';
import { AddressSlot, admitAddressSoon, retryAfterHeader, type AddressRefusal } from './address-admission.js';
import { deliverySpec } from './delivery-spec.js';
import { serveJoin, type ResumePoint } from './serve-join.js';
import { SseSubscription, type SseSettings } from './sse-subscription.js';

const sseQuerySchema = z.object({
  job_id: jobIdParamSchema,
  last_event_id: z.string().max(64).optional(),
  event_types: eventTypesQuerySchema.optional(),
  progress_interval_ms: progressIntervalQuerySchema.optional(),
});

/**
 * GET /sse/scraping/{job_id} — one job as Server-Sent Events, for clients that cannot use
 * WebSockets: `id: <epoch>:<seq>`, `event: <event_type>`, `data: <event JSON>`. A reconnecting
 * EventSource's Last-Event-ID (or ?last_event_id=) resumes like last_seq/epoch; the same filters,
 * throttling, access rules and backpressure limit as the sockets.
 */
export function registerSseRoute(app: TemplatedApp, ctx: GatewayContext): void {
  const { config, channels, state } = ctx;
  const open = new Set<SseSubscription>();
  const settings: SseSettings = {
    maxBackpressureBytes: config.gateway.maxBackpressureBytes,
    retryMs: 1000,
    onSlowConsumer: () => {
      state.slowConsumersClosed += 1;
    },
    detach: (jobId, subscription) => {
      if (open.delete(subscription)) state.connections -= 1;
      // Every end of a response comes through here (aborted, refused, cut, ended): its slot is free.
      subscription.slot?.release();
      channels.detach(jobId, subscription);
    },
  };
  // One timer for every response, not one each.
  setInterval(() => {
    for (const subscription of open) subscription.heartbeat();
  }, config.gateway.sseHeartbeatSeconds * 1000).unref();

  app.get('/sse/scraping/:job_id', (res, req) => {
    const parsed = sseQuerySchema.safeParse({
      job_id: req.getParameter(0),
      last_event_id: req.getHeader('last-event-id') || req.getQuery('last_event_id') || undefined,
      event_types: req.getQuery('event_types') || undefined,
      progress_interval_ms: req.getQuery('progress_interval_ms') || undefined,
    });
    const credentials = ctx.auth.enabled ? credentialsOf(req) : NO_CREDENTIALS;
    if (state.draining) {
      sendError(immediate(res), 503, 'DRAINING', 'gateway is shutting down; connect again');
      return;
    }
    if (!parsed.success) {
      const badId = parsed.error.issues.some((i) => i.path[0] === 'job_id');
      const problem = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      if (badId) sendError(immediate(res), 400, 'BAD_JOB_ID', `job id must be a positive integer, got "${req.getParameter(0)}"`);
      else sendError(immediate(res), 400, 'BAD_SUBSCRIPTION', problem);
      return;
    }
    const { job_id: jobId, last_event_id, event_types, progress_interval_ms } = parsed.data;
    let resume: ResumePoint | null = null;
    if (last_event_id !== undefined) {
      resume = parseSseEventId(last_event_id);
      if (!resume) {
        sendError(immediate(res), 400, 'BAD_SUBSCRIPTION', 'last_event_id: must be an id this stream sent (<epoch>:<seq>)');
        return;
      }
    }
    // The legacy upgrade's per-address limits: the request rate, and a connection slot held
    // until the response ends (released in settings.detach).
    const ip = ctx.clientIp.of(res, req);
    const subscription = new SseSubscription(res, jobId, deliverySpec('sse', event_types, progress_interval_ms), settings);
    res.onAborted(() => subscription.aborted());
    res.onWritable(() => subscription.writable());
    open.add(subscription);
    state.connections += 1;
    state.connectionsOpened += 1;
    const admitted = (refused: AddressRefusal | null) => {
      if (refused) {
        subscription.refuseHttp(429, 'RATE_LIMITED', refused.message, retryAfterHeader(refused));
        return;
      }
      subscription.slot = new AddressSlot(ctx, ip);
      // Aborted while Redis was asked: the slot goes back at once.
      if (subscription.closed) return subscription.slot.release();
      authorize();
    };
    const authorize = () => {
      const decision = authorizeWatch(ctx, credentials, jobId);
      if (decision instanceof Promise) decision.then(proceed, () => subscription.refuseHttp(503, 'UNAVAILABLE', 'access check failed; retry'));
      else proceed(decision);
    };
    const proceed = (d: ReadDecision) => {
      if (subscription.closed) return;
      if (!d.ok) {
        if (d.kind === 'unauthorized') subscription.refuseHttp(401, 'UNAUTHORIZED', d.message);
        else subscription.refuseHttp(404, 'JOB_NOT_FOUND', `Job ${jobId} not found`);
        return;
      }
      void channels.attach(jobId, subscription, () => serveJoin(ctx, jobId, resume), { shareable: resume === null });
    };
    const limits = admitAddressSoon(ctx, ip);
    if (limits === null) admitted(null);
    else limits.then(admitted, () => subscription.refuseHttp(503, 'UNAVAILABLE', 'limits check failed; retry'));
  });
}
