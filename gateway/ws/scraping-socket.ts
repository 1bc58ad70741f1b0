import { z } from 'zod';
import { jobIdFromPath, jobIdParamSchema } from '../../shared/api.js';
import { CLOSE_CODES, PING_TEXT, PONG_TEXT } from '../../shared/protocol.js';
import { eventTypesQuerySchema, progressIntervalQuerySchema } from '../../shared/protocol-v2.js';
import { chosenProtocol, credentialsOf, type Credentials } from '../auth/credentials.js';
import type { GatewayContext } from '../context.js';
import { immediate, reply, sendError, sendUnavailable } from '../http/responses.js';
import type { TemplatedApp } from '../uws.js';
import { admitUpgrade } from './admit-upgrade.js';
import { checkAddressNow, releaseAddress, retryAfterHeader } from './address-admission.js';
import { deliverySpec, PLAIN_JSON, type DeliverySpec } from './delivery-spec.js';
import type { InitialServe } from './job-channels.js';
import { JobSocket, type JobSocketData, type JobSocketSettings } from './job-socket.js';
import { notFoundEvent, serveJoin, type ResumePoint } from './serve-join.js';
import { streamSocketOptions } from './socket-options.js';

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

const NO_CREDENTIALS: Credentials = { bearer: null, token: null };
/** `?token=…` alone: the common request of a browser with auth on, checked without zod. */
const TOKEN_ONLY_QUERY = /^token=[A-Za-z0-9_.-]{1,1024}$/;

const UNKNOWN_FRAME = JSON.stringify({
  error: { code: 'UNKNOWN_MESSAGE', message: `this endpoint understands only the text "${PING_TEXT}"` },
});

/**
 * WS /ws/scraping/{job_id}[?last_seq=N[&epoch=E]] — the seed-compatible endpoint: a snapshot (or
 * the events after last_seq), then every event of the job live, in seq order.
 */
export function registerScrapingSocket(app: TemplatedApp, ctx: GatewayContext): void {
  const { config, log, channels, state, auth, limits } = ctx;
  const messagesPerSecond = config.limits.messagesPerSecond;
  const chargeReplay = (holder: string, initial: InitialServe) => {
    let bytes = 0;
    for (const frame of initial.frames) bytes += frame.length;
    limits.chargeReplay(holder, bytes);
  };
  const allowed = new Set(config.gateway.allowedOrigins);
  const settings: JobSocketSettings = {
    pacingBytes: config.gateway.maxBackpressureBytes / 2,
    compress: config.gateway.compression !== undefined && config.gateway.compression !== 'off',
    onSlowConsumer: () => {
      state.slowConsumersClosed += 1;
    },
  };

  app.ws<JobSocketData>('/ws/scraping/:job_id', {
    ...streamSocketOptions(config),
    maxPayloadLength: 4 * 1024,

    upgrade: (res, req, context) => {
      const origin = req.getHeader('origin');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // The common request, a plain job id without resume, is checked without a zod result.
      const query = req.getQuery();
      const tokenOnly = query !== '' && TOKEN_ONLY_QUERY.test(query);
      const plainJobId = query === '' || tokenOnly ? jobIdFromPath(req.getParameter(0)) : null;
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
      // Everything the rest needs is copied out of req now: it is gone after this function returns.
      // `?token=…` alone (a browser, the seed's clients): the token is the query's tail, no second copy.
      const credentials = !auth.enabled
        ? NO_CREDENTIALS
        : tokenOnly && protocol === '' && req.getHeader('authorization') === ''
          ? { bearer: null, token: query.slice(6) }
          : credentialsOf(req, protocol);
      const answeredProtocol = auth.enabled ? chosenProtocol(protocol) : protocol;
      const ip = ctx.clientIp.of(res, req);

      // The common case is answered from memory, synchronously, as before access control: a token
      // seen before (or auth off) and this gateway's leases on the address's limits.
      const known = resume === null ? auth.authorizeJobRead(credentials, jobId) : null;
      if (known !== null && !(known instanceof Promise)) {
        if (!known.ok && known.kind === 'unauthorized') {
          ctx.metrics.upgrade('unauthorized');
          sendError(immediate(res), 401, 'UNAUTHORIZED', known.message);
          return;
        }
      }
      const limitsNow = checkAddressNow(ctx, ip);
      if (limitsNow === 'allowed' && known !== null && !(known instanceof Promise)) {
        ctx.metrics.upgrade(known.ok ? 'accepted' : 'not_found');
        res.upgrade(socketData(state.connectionsOpened + 1, jobId, resume, settings, ip, !known.ok, null, spec), key, answeredProtocol, extensions, context);
        return;
      }

      // Awaited in admitUpgrade, after the limits: a rejection meanwhile must not count as unhandled.
      if (known instanceof Promise) known.catch(() => undefined);
      const r = reply(res);
      admitUpgrade(ctx, ip, credentials, jobId, resume !== null, limitsNow, known).then(
        (admission) => {
          if (r.aborted) {
            if (admission.kind !== 'refuse') releaseAddress(ctx, ip);
            return;
          }
          if (admission.kind === 'refuse') {
            ctx.metrics.upgrade(admission.status === 429 ? 'rate_limited' : 'unauthorized');
            const headers = admission.retryAfterSeconds ? retryAfterHeader({ retryAfterSeconds: admission.retryAfterSeconds }) : undefined;
            sendError(r, admission.status, admission.code, admission.message, { headers });
            return;
          }
          r.aborted = true;
          ctx.metrics.upgrade(admission.kind === 'not-found' ? 'not_found' : 'accepted');
          const replayHolder = admission.kind === 'open' ? admission.replayHolder : null;
          const data = socketData(state.connectionsOpened + 1, jobId, resume, settings, ip, admission.kind === 'not-found', replayHolder, spec);
          res.cork(() => res.upgrade(data, key, answeredProtocol, extensions, context));
        },
        (error: unknown) => {
          releaseAddress(ctx, ip);
          sendUnavailable(log, r, error);
        },
      );
    },

    open: (ws) => {
      state.connections += 1;
      state.connectionsOpened += 1;
      const data = ws.getUserData();
      const { socket } = data;
      socket.ws = ws;
      log.debug({ conn: socket.connNo, jobId: socket.jobId, resume: socket.resume }, 'client connected');
      if (data.deniedAsNotFound) {
        // Exactly what a job that does not exist gets: the holder learns nothing about this one.
        socket.send([JSON.stringify(notFoundEvent(socket.jobId))]);
        socket.close(CLOSE_CODES.NOT_FOUND, `Job ${socket.jobId} not found`);
        return;
      }
      const holder = data.replayHolder;
      const serve = holder
        ? () => serveJoin(ctx, socket.jobId, socket.resume).then((initial) => (chargeReplay(holder, initial), initial))
        : () => serveJoin(ctx, socket.jobId, socket.resume);
      void channels.attach(socket.jobId, socket, serve, { shareable: socket.resume === null });
    },

    message: (ws, message, isBinary) => {
      const { socket } = ws.getUserData();
      if (!socket.countMessage(messagesPerSecond)) {
        socket.close(CLOSE_CODES.POLICY_VIOLATION, `more than ${messagesPerSecond} messages a second`);
        return;
      }
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
      if (socket.ip !== null) releaseAddress(ctx, socket.ip);
      socket.markClosed();
      channels.detach(socket.jobId, socket);
      log.debug({ conn: socket.connNo, jobId: socket.jobId, code }, 'client disconnected');
    },
  });
}

/** The uWS user data of a new socket (a plain function: nothing allocated but the data itself). */
function socketData(
  connNo: number,
  jobId: number,
  resume: ResumePoint | null,
  settings: JobSocketSettings,
  ip: string,
  notFound: boolean,
  replayHolder: string | null,
  spec: DeliverySpec,
): JobSocketData {
  const data: JobSocketData = { socket: new JobSocket(connNo, jobId, resume, settings, ip, spec) };
  if (notFound) data.deniedAsNotFound = true;
  else if (replayHolder !== null) data.replayHolder = replayHolder;
  return data;
}
