import type { ChannelSocket } from './job-channels.js';
import { encodeEvent, eventTypeOfPayload, type DeliverySpec, type Frame } from './delivery-spec.js';

const PROGRESS = 'job_progress';

/**
 * The subscribers of one job that want its events the same way (wire format, event-type filter,
 * progress interval). Each event the group lets through is encoded once and handed to its
 * outlets: the group's uWS topic (one publish reaches every uWS socket on it, whichever endpoint
 * it came from) and its direct members (SSE responses, throttled subscribers), written one by one
 * with the already encoded frame.
 *
 * Throttling: job_progress is held back until `progressIntervalMs` passed since the group's last
 * one (latest wins); any other event first releases the held progress, so a job's last progress
 * before its terminal event always arrives, in seq order. Throttled groups have no topic: a
 * member joining while a progress is held must not get it after the newer seq it was served, so
 * each direct member keeps the seq it was sent up to.
 */
export class DeliveryGroup {
  /** Subscriptions of the group, joining or live. */
  size = 0;
  /** Of those, the ones that go live on the topic. */
  topicMembers = 0;
  /** Live direct members and the seq each was sent up to. */
  readonly direct = new Map<ChannelSocket, number>();
  readonly binary: boolean;
  readonly usesTopic: boolean;
  private memoPayload: Frame | null = null;
  private memoFrame: Frame = '';
  private held: { payload: Buffer; seq: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastProgressAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly spec: DeliverySpec,
    readonly topic: string,
    private readonly publish: (topic: string, frame: Frame, binary: boolean) => void,
  ) {
    this.binary = spec.format === 'msgpack';
    this.usesTopic = spec.progressIntervalMs === 0;
  }

  get plain(): boolean {
    return this.spec.format === 'json' && this.spec.eventTypes === null && this.spec.progressIntervalMs === 0;
  }

  accepts(eventType: string): boolean {
    return this.spec.eventTypes === null || this.spec.eventTypes.has(eventType);
  }

  /** The event's frame for this group: encoded once, whoever of the group it goes to. */
  frameOf(payload: Frame, eventType: string): Frame {
    if (this.memoPayload !== payload) {
      this.memoFrame = encodeEvent(this.spec.format, payload, eventType);
      this.memoPayload = payload;
    }
    return this.memoFrame;
  }

  /** A live event of the job, in seq order. */
  offer(payload: Buffer, seq: number, eventType: string): void {
    if (!this.accepts(eventType)) return;
    if (this.spec.progressIntervalMs > 0) {
      if (eventType === PROGRESS) {
        this.throttle(payload, seq);
        return;
      }
      this.releaseHeld();
    }
    this.emit(payload, seq, eventType);
  }

  private throttle(payload: Buffer, seq: number): void {
    const now = performance.now();
    const wait = this.lastProgressAt + this.spec.progressIntervalMs - now;
    if (wait <= 0 && this.held === null) {
      this.lastProgressAt = now;
      this.emit(payload, seq, PROGRESS);
      return;
    }
    this.held = { payload, seq };
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.releaseHeld();
    }, Math.max(1, wait));
    this.timer.unref();
  }

  private releaseHeld(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastProgressAt = performance.now();
    this.emit(held.payload, held.seq, PROGRESS);
  }

  private emit(payload: Buffer, seq: number, eventType: string): void {
    const frame = this.frameOf(payload, eventType);
    if (this.topicMembers > 0) this.publish(this.topic, frame, this.binary);
    if (this.direct.size === 0) return;
    for (const [member, sent] of this.direct) {
      if (seq <= sent) continue;
      this.direct.set(member, seq);
      member.send([frame]);
    }
  }

  /**
   * What a joiner was served (a snapshot and maybe the terminal event after it, or history read as
   * JSON text) in this group's terms: filtered, progress coalesced (of consecutive progress events
   * only the last is kept) and encoded. A snapshot is the subscriber's starting state and always
   * passes.
   */
  initialFrames(frames: readonly Frame[], snapshot: boolean): Frame[] {
    if (this.plain) return frames.slice();
    const out: Frame[] = [];
    const throttled = this.spec.progressIntervalMs > 0;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      const type = eventTypeOfPayload(frame);
      if (!(snapshot && i === 0)) {
        if (!this.accepts(type)) continue;
        if (throttled && type === PROGRESS && this.nextAcceptedIsProgress(frames, i)) continue;
      }
      out.push(encodeEvent(this.spec.format, frame, type));
    }
    return out;
  }

  private nextAcceptedIsProgress(frames: readonly Frame[], i: number): boolean {
    for (let k = i + 1; k < frames.length; k++) {
      const type = eventTypeOfPayload(frames[k]!);
      if (this.accepts(type)) return type === PROGRESS;
    }
    return false;
  }

  /** Live events sent straight to a joiner before it goes live: filtered and encoded, not throttled. */
  liveFrames(payloads: readonly Buffer[]): Frame[] {
    if (this.plain) return payloads.slice();
    const out: Frame[] = [];
    for (const payload of payloads) {
      const type = eventTypeOfPayload(payload);
      if (this.accepts(type)) out.push(this.frameOf(payload, type));
    }
    return out;
  }

  /** Drops a held progress (a resync: its seq may not be what clients get next) and the timer. */
  reset(): void {
    this.held = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
