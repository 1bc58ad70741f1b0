import { z } from 'zod';
import { EVENT_TYPES, jobIdSchema } from './events.js';

/*
 * Protocol v2: WS /ws carries any number of job subscriptions on one connection, and
 * GET /sse/scraping/{id} serves one job as Server-Sent Events. Events are the same JSON objects as
 * on WS /ws/scraping/{id} (their `job_id` tells the jobs apart); control messages have a `type`.
 *
 * Seq gaps. A subscription without `event_types` and `progress_interval_ms` gets every seq of its
 * job, 1, 2, 3 … — a gap there is a loss and the client resubscribes from its last seq. A
 * subscription that declared either sees gaps by design (filtered types, coalesced progress); the
 * gateway never loses an event silently — it sends `resync` (or closes the connection) instead —
 * so such a client only checks that seq increases. `subscribed` repeats the declared filter, so a
 * client can always tell which rule applies.
 */

/** Subprotocols of WS /ws: MessagePack binary frames, or JSON text (also without any subprotocol). */
export const SUBPROTOCOL_MSGPACK = 'scout.v2.msgpack';
export const SUBPROTOCOL_JSON = 'scout.v2.json';

/** The most a throttled subscription may ask for (a minute); 0 means every event. */
export const MAX_PROGRESS_INTERVAL_MS = 60_000;

export const eventTypesSchema = z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length);
export const progressIntervalSchema = z.number().int().min(0).max(MAX_PROGRESS_INTERVAL_MS);

/** `?event_types=a,b` of the legacy path and SSE, as a list (unset: every type). */
export const eventTypesQuerySchema = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
  .pipe(eventTypesSchema);
export const progressIntervalQuerySchema = z
  .string()
  .regex(/^\d{1,6}$/, 'must be a whole number of milliseconds')
  .transform(Number)
  .pipe(progressIntervalSchema);

export const subscribeMessageSchema = z.object({
  type: z.literal('subscribe'),
  job_id: jobIdSchema,
  last_seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  epoch: z.string().regex(/^\d{1,24}$/).nullable().optional(),
  event_types: eventTypesSchema.optional(),
  progress_interval_ms: progressIntervalSchema.optional(),
  /** A watch token, checked when access control is on. */
  token: z.string().max(4096).optional(),
});
export type SubscribeMessage = z.infer<typeof subscribeMessageSchema>;

export const unsubscribeMessageSchema = z.object({ type: z.literal('unsubscribe'), job_id: jobIdSchema });
export const pingMessageSchema = z.object({ type: z.literal('ping') });

export const clientMessageSchema = z.discriminatedUnion('type', [subscribeMessageSchema, unsubscribeMessageSchema, pingMessageSchema]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

/** Stable codes of a per-job `error`: none of them closes the connection. */
export const SUBSCRIPTION_ERROR_CODES = [
  'NOT_FOUND',
  'FORBIDDEN',
  'BAD_REQUEST',
  'TOO_MANY_SUBSCRIPTIONS',
  'ALREADY_SUBSCRIBED',
  'NOT_SUBSCRIBED',
  'UNAVAILABLE',
  'UNKNOWN_MESSAGE',
  /** A resume (last_seq) while the client's replay budget is used up: subscribe again after retry_after. */
  'RATE_LIMITED',
] as const;
export type SubscriptionErrorCode = (typeof SUBSCRIPTION_ERROR_CODES)[number];

export const subscribedMessageSchema = z.object({
  type: z.literal('subscribed'),
  job_id: jobIdSchema,
  /** The filter the subscription declared (null: every type): seq gaps are expected when set. */
  event_types: eventTypesSchema.nullable(),
  progress_interval_ms: progressIntervalSchema,
  /** The seq the snapshot or history that follows brings the client to. */
  seq: z.number().int().nonnegative(),
});

export const unsubscribedMessageSchema = z.object({ type: z.literal('unsubscribed'), job_id: jobIdSchema });

export const errorMessageSchema = z.object({
  type: z.literal('error'),
  /** null for a message that named no job (unreadable JSON). */
  job_id: jobIdSchema.nullable(),
  code: z.enum(SUBSCRIPTION_ERROR_CODES),
  message: z.string(),
  /** With RATE_LIMITED: the seconds after which the same subscribe may succeed. */
  retry_after: z.number().int().positive().optional(),
});

/**
 * The job's subscription ended because the gateway could not keep it exact (the job's stream
 * restarted, a gap history no longer holds, Redis unavailable, the gateway shutting down): subscribe
 * again with the last seq held; the answer is its history or a snapshot marked resync.
 */
export const resyncMessageSchema = z.object({
  type: z.literal('resync'),
  job_id: jobIdSchema,
  /** The WebSocket close code the legacy path would have closed with (4000, 4003, 1001 …). */
  code: z.number().int(),
  message: z.string(),
});

export const pongMessageSchema = z.object({ type: z.literal('pong') });

export const serverControlMessageSchema = z.discriminatedUnion('type', [
  subscribedMessageSchema,
  unsubscribedMessageSchema,
  errorMessageSchema,
  resyncMessageSchema,
  pongMessageSchema,
]);
export type ServerControlMessage = z.infer<typeof serverControlMessageSchema>;

/** SSE event ids are `<epoch>:<seq>` (`<seq>` alone for a stream without epoch). */
export function sseEventId(epoch: string | null, seq: number): string {
  return epoch === null ? String(seq) : `${epoch}:${seq}`;
}

/** Reads a Last-Event-ID back into a resume point; null when it is not one of ours. */
export function parseSseEventId(id: string): { lastSeq: number; epoch: string | null } | null {
  const m = /^(?:(\d{1,24}):)?(\d{1,15})$/.exec(id.trim());
  if (!m) return null;
  return { lastSeq: Number(m[2]), epoch: m[1] ?? null };
}
