import { Packr } from 'msgpackr';
import { epochOfPayload, seqOfPayload } from '../../shared/redis/job-event-log.js';
import { sseEventId } from '../../shared/protocol-v2.js';

/** How a subscriber wants its events on the wire. */
export type WireFormat = 'json' | 'msgpack' | 'sse';

/**
 * What sets subscribers of one job apart: subscribers with equal specs form one delivery group,
 * served by one encode per event.
 */
export interface DeliverySpec {
  readonly format: WireFormat;
  /** Only these event types (null: every type). */
  readonly eventTypes: ReadonlySet<string> | null;
  /** job_progress coalesced to at most one per this many ms, latest wins (0: every event). */
  readonly progressIntervalMs: number;
}

/** The seed's delivery: JSON text, every event. */
export const PLAIN_JSON: DeliverySpec = Object.freeze({ format: 'json', eventTypes: null, progressIntervalMs: 0 });

export function deliverySpec(format: WireFormat, eventTypes: readonly string[] | null | undefined, progressIntervalMs: number | undefined): DeliverySpec {
  const types = eventTypes && eventTypes.length > 0 ? new Set(eventTypes) : null;
  const interval = progressIntervalMs ?? 0;
  if (format === 'json' && !types && interval === 0) return PLAIN_JSON;
  return { format, eventTypes: types, progressIntervalMs: interval };
}

/** The group key of a spec; '' for the seed's plain JSON (whose topic stays `job:{id}`). */
export function groupKeyOf(spec: DeliverySpec): string {
  if (spec.format === 'json' && !spec.eventTypes && spec.progressIntervalMs === 0) return '';
  return `${spec.format}|${spec.eventTypes ? [...spec.eventTypes].sort().join(',') : '*'}|${spec.progressIntervalMs}`;
}

export type Frame = string | Buffer;

const EVENT_TYPE_MARK = ',"event_type":"';

/**
 * The event_type of an event serialized by the emit script (or a snapshot), read from its bytes
 * right after `seq` without parsing: once per event per channel, never per socket.
 */
export function eventTypeOfPayload(payload: Frame): string {
  const at = payload.indexOf(EVENT_TYPE_MARK);
  if (at < 0) return '';
  const start = at + EVENT_TYPE_MARK.length;
  const end = payload.indexOf('"', start);
  if (end < 0) return '';
  return typeof payload === 'string' ? payload.slice(start, end) : payload.toString('latin1', start, end);
}

// Plain maps, no msgpackr records extension: any MessagePack decoder reads the frames.
const packr = new Packr({ useRecords: false });

/** Encodes an object (a control message) for a wire format. */
export function encodeMessage(format: WireFormat, message: object): Frame {
  if (format === 'msgpack') return packr.pack(message);
  if (format === 'sse') {
    // Named scout.<type>: a plain `error` would reach EventSource's own onerror.
    const type = (message as { type?: string }).type ?? 'message';
    return `event: scout.${type}\ndata: ${JSON.stringify(message)}\n\n`;
  }
  return JSON.stringify(message);
}

/** Encodes an event (its JSON bytes as emitted) for a wire format. */
export function encodeEvent(format: WireFormat, payload: Frame, eventType: string): Frame {
  if (format === 'json') return payload;
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  if (format === 'msgpack') return packr.pack(JSON.parse(text));
  return `id: ${sseEventId(epochOfPayload(text), seqOfPayload(text))}\nevent: ${eventType}\ndata: ${text}\n\n`;
}
