import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { eventDraftSchema, JOB_STATUSES, type EventDraft } from '../events.js';
import type { RedisKeys } from './keys.js';
import { registerScripts } from './scripts.js';

/** A job's live state as the emit script keeps it in Redis. */
export const jobLiveStateSchema = z.object({
  job_id: z.coerce.number().int().positive(),
  seq: z.coerce.number().int().nonnegative(),
  epoch: z.string().min(1),
  status: z.enum(JOB_STATUSES),
  progress: z.coerce.number().min(0).max(100).optional(),
  results_count: z.coerce.number().int().nonnegative(),
  event_type: z.string(),
  started_at: z.string().optional(),
  completed_at: z.string().optional(),
  updated_at: z.string(),
  /** The job row's identity the stream was written for (absent: written without one). */
  identity: z.string().optional(),
});
export type JobLiveState = z.infer<typeof jobLiveStateSchema>;

/** What a joining client needs: live state, and the serialized events after its resume point. */
export interface JobRead {
  state: JobLiveState | null;
  /** Events after the asked seq, oldest first; 'gap' when the history no longer holds them all. */
  history: string[] | 'gap' | null;
}

export interface HistoryLimits {
  maxEvents: number;
  retentionSeconds: number;
  /** Expiry once the job has ended (its last event's status is final); default retentionSeconds. */
  finishedRetentionSeconds?: number;
}

/** How events reach subscribers: plain pub/sub on a single Redis, sharded pub/sub on a cluster. */
export type PublishMode = 'PUBLISH' | 'SPUBLISH';

/**
 * Who writes, for the emit script's order check: a writer numbers its calls for a job 1, 2, 3 …
 * under a token of its own. `previous` is the index of its call that must have run before this
 * one (undefined: no check, the writer waited for it).
 */
export interface WriterMark {
  token: string;
  index: number;
  previous?: number;
}

/** What the emit script did with a call (or with one job's section of a call). */
export type AppendReply =
  | { kind: 'applied'; /** seq of the call's last event */ lastSeq: number; epoch: string }
  /** Refused, nothing written: the writer's call `previous` has not run; `done` is its last call that did. */
  | { kind: 'order'; done: number | null };

/** Events one section of a script call may carry (Lua's unpack has a limit; calls stay short). */
export const MAX_EVENTS_PER_APPEND = 64;
/** Jobs (sections) one script call may carry. */
export const MAX_SECTIONS_PER_APPEND = 32;
/** Events one script call may carry over all its sections: its arguments stay bounded. */
export const MAX_EVENTS_PER_CALL = 256;

/** One job's part of a script call: its events, appended as one appendMany call would. */
export interface AppendSection {
  jobId: number;
  /** Already parsed with eventDraftSchema. */
  events: readonly EventDraft[];
  seqFloor?: number;
  writer?: WriterMark;
  identity?: string;
}

/**
 * A job's event stream in Redis: seq counter, capped history, live state and pub/sub channel.
 * Appending is one atomic script (seq assignment, history, state and publish happen together or
 * not at all); live delivery over pub/sub is at-most-once, so readers recover gaps from history.
 */
export class JobEventLog {
  private readonly scripts;
  /**
   * Whether one script call may carry several jobs: on a single Redis. On a cluster the keys of
   * different jobs live in different slots (one job a call).
   */
  readonly batchesJobs: boolean;

  constructor(
    redis: Redis | Cluster,
    readonly keys: RedisKeys,
    private readonly limits: HistoryLimits,
    private readonly publish: PublishMode = 'PUBLISH',
  ) {
    this.scripts = registerScripts(redis);
    this.batchesJobs = !redis.isCluster && publish === 'PUBLISH';
  }

  /**
   * Appends an event and publishes it. `seqFloor` is the highest seq known outside Redis: when
   * the job's live state is missing (new job, or Redis lost its data) numbering continues above it
   * under a new epoch.
   */
  async append(jobId: number, draft: EventDraft, seqFloor = 0, identity = ''): Promise<{ seq: number; epoch: string }> {
    const reply = await this.appendMany(jobId, [eventDraftSchema.parse(draft)], seqFloor, undefined, identity);
    if (reply.kind !== 'applied') throw new Error('emit refused without a writer mark');
    return { seq: reply.lastSeq, epoch: reply.epoch };
  }

  /**
   * Appends events (already parsed with eventDraftSchema) in one atomic script call, seqs in
   * array order. With a writer mark the call may be refused ('order') when an earlier call of the
   * same writer has not run yet. With the job row's `identity`, a stream written for another row of
   * the same id is replaced (a new epoch, seq above the floor) instead of continued.
   */
  async appendMany(jobId: number, events: readonly EventDraft[], seqFloor = 0, writer?: WriterMark, identity = ''): Promise<AppendReply> {
    const args = emitScriptCall(this.keys, this.limits, this.publish, [{ jobId, events, seqFloor, writer, identity }]);
    return parseEmitReply((await this.scripts.emitEvent(...args)) as string);
  }

  /**
   * Appends the events of several jobs in one atomic script call (only where batchesJobs, or jobs
   * of one slot), each section as appendMany would, one reply per section in order: applied,
   * refused ('order'), or the Error of that section alone. A job appears at most once a call.
   * An error of the whole call (connection, NOSCRIPT after ioredis' re-send) rejects.
   */
  async appendSections(sections: readonly AppendSection[]): Promise<(AppendReply | Error)[]> {
    const args = emitScriptCall(this.keys, this.limits, this.publish, sections);
    const reply = (await this.scripts.emitEvent(...args)) as string | string[];
    if (typeof reply === 'string') return [parseEmitReply(reply)];
    return reply.map((r, i) =>
      r.startsWith('error ') ? new Error(`emit for job ${sections[i]!.jobId} failed: ${r.slice(6)}`) : parseEmitReply(r),
    );
  }

  /** Live state, and with `afterSeq` the history after it, read in one atomic step. */
  async read(jobId: number, afterSeq?: number): Promise<JobRead> {
    const reply = (await this.scripts.readJob(
      this.keys.jobState(jobId),
      this.keys.jobHistory(jobId),
      afterSeq ?? -1,
    )) as [string[], (string[] | string)?];
    const flat = reply[0];
    if (flat.length === 0) return { state: null, history: null };
    const fields: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    const history = reply[1] === undefined ? null : reply[1] === 'gap' ? 'gap' : (reply[1] as string[]);
    return { state: jobLiveStateSchema.parse(fields), history };
  }
}

/** The emit script's reply: '<last seq> <epoch>' when applied, 'order <done>' when refused. */
export function parseEmitReply(reply: string): AppendReply {
  const space = reply.indexOf(' ');
  const head = reply.slice(0, space);
  const rest = reply.slice(space + 1);
  if (head === 'order') return { kind: 'order', done: rest === '' ? null : Number(rest) };
  return { kind: 'applied', lastSeq: Number(head), epoch: rest };
}

/**
 * The emit script's key count, keys and arguments for a call of sections (one: appendMany;
 * several: appendSections; the benchmark replays them). Sections name distinct jobs.
 */
export function emitScriptCall(
  keys: RedisKeys,
  limits: HistoryLimits,
  publish: PublishMode,
  sections: readonly AppendSection[],
): (string | number)[] {
  if (sections.length === 0 || sections.length > MAX_SECTIONS_PER_APPEND) throw new RangeError(`1 to ${MAX_SECTIONS_PER_APPEND} sections per append`);
  const keyList: string[] = [];
  // The call's settings, then the event counts of all sections but the last (the script finds
  // the last one's end at the end of the arguments: one section carries no count).
  const args: (string | number)[] = [
    limits.maxEvents,
    limits.retentionSeconds,
    publish,
    limits.finishedRetentionSeconds ?? limits.retentionSeconds,
  ];
  let total = 0;
  for (let s = 0; s < sections.length; s++) {
    const { events } = sections[s]!;
    if (events.length === 0 || events.length > MAX_EVENTS_PER_APPEND) throw new RangeError(`1 to ${MAX_EVENTS_PER_APPEND} events per append`);
    total += events.length;
    if (s < sections.length - 1) args.push(events.length);
  }
  if (sections.length > 1 && total > MAX_EVENTS_PER_CALL) throw new RangeError(`at most ${MAX_EVENTS_PER_CALL} events per call of several jobs`);
  for (const section of sections) {
    keyList.push(keys.jobState(section.jobId), keys.jobHistory(section.jobId), keys.jobChannel(section.jobId));
    pushSection(args, section);
  }
  return [keyList.length, ...keyList, ...args];
}

/** A section's header and its events' pieces. */
function pushSection(args: (string | number)[], { jobId, events, seqFloor = 0, writer, identity = '' }: AppendSection): void {
  args.push(jobId, seqFloor, writer?.token ?? '', writer?.previous ?? '', writer?.index ?? '', identity);
  // The live state after these events: the last one's, with the section's last progress and
  // start or end (a job_started clears an earlier completed_at: '-').
  const last = events[events.length - 1]!;
  let progress = '';
  let startedAt = '';
  let completedAt = '';
  for (const event of events) {
    if (event.progress !== null) progress = String(event.progress);
    if (event.event_type === 'job_started') {
      startedAt = event.timestamp;
      completedAt = '-';
    } else if (event.event_type === 'job_completed' || event.event_type === 'job_failed') {
      completedAt = event.timestamp;
    }
  }
  args.push(last.status, last.results_count, last.event_type, last.timestamp, progress, startedAt, completedAt);
  // Each event serialized but for its seq and epoch, which the script puts between the pieces.
  for (const event of events) {
    const { epoch: _reserved, ...metadata } = event.metadata;
    const members = JSON.stringify(metadata).slice(1, -1);
    args.push(
      `,"event_type":"${event.event_type}","status":"${event.status}",` +
        `"progress":${event.progress === null ? 'null' : event.progress},` +
        `"results_count":${event.results_count},"message":${JSON.stringify(event.message)},"metadata":{"epoch":"`,
      `"${members === '' ? '' : `,${members}`}},"timestamp":"${event.timestamp}"}`,
    );
  }
}

const JOB_ID_PREFIX = '{"job_id":';
const COMMA = 0x2c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/*
 * job_id and seq read out of an event serialized by the emit script (`{"job_id":N,"seq":S,…`)
 * without parsing or copying it, and without allocating: the gateway does this once per event on
 * its hot path. -1 when the payload has another shape.
 */

export function jobIdOfPayload(payload: string | Buffer): number {
  const bytes = asBytes(payload);
  return hasJobIdPrefix(bytes) ? digitsAt(bytes, JOB_ID_PREFIX.length) : -1;
}

export function seqOfPayload(payload: string | Buffer): number {
  const bytes = asBytes(payload);
  if (!hasJobIdPrefix(bytes)) return -1;
  let i = JOB_ID_PREFIX.length;
  while (i < bytes.length && bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9) i++;
  return bytes[i] === COMMA ? digitsAt(bytes, i + SEQ_KEY.length) : -1;
}

const SEQ_KEY = ',"seq":';

function asBytes(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload.slice(0, 48), 'latin1') : payload;
}

function hasJobIdPrefix(bytes: Buffer): boolean {
  if (bytes.length < 20) return false;
  for (let k = 0; k < JOB_ID_PREFIX.length; k++) if (bytes[k] !== JOB_ID_PREFIX.charCodeAt(k)) return false;
  return true;
}

/** The non-negative integer written at `start`; -1 when there is none. */
function digitsAt(bytes: Buffer, start: number): number {
  let value = 0;
  let i = start;
  for (; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c < DIGIT_0 || c > DIGIT_9) break;
    value = value * 10 + (c - DIGIT_0);
  }
  return i > start ? value : -1;
}

const EPOCH_MARK = '"metadata":{"epoch":"';

/** Reads metadata.epoch out of an event serialized by the emit script, without parsing it. */
export function epochOfPayload(payload: string | Buffer): string | null {
  const at = payload.indexOf(EPOCH_MARK);
  if (at < 0) return null;
  const start = at + EPOCH_MARK.length;
  const end = payload.indexOf('"', start);
  if (end < 0) return null;
  return typeof payload === 'string' ? payload.slice(start, end) : payload.toString('latin1', start, end);
}

const TIMESTAMP_MARK = '"timestamp":"';

/**
 * The emit time (ms since the epoch) of an event serialized by the emit script, whose last field is
 * its timestamp; NaN when the payload has another shape. Read from the end, without parsing.
 */
export function emittedAtOfPayload(payload: string | Buffer): number {
  const at = payload.lastIndexOf(TIMESTAMP_MARK);
  if (at < 0) return Number.NaN;
  const start = at + TIMESTAMP_MARK.length;
  const end = payload.indexOf('"', start);
  if (end < 0) return Number.NaN;
  return Date.parse(typeof payload === 'string' ? payload.slice(start, end) : payload.toString('latin1', start, end));
}
