import type { Logger } from '../../shared/logger.js';
import { CLOSE_CODES } from '../../shared/protocol.js';
import { epochOfPayload, jobIdOfPayload, seqOfPayload, type JobEventLog } from '../../shared/redis/job-event-log.js';
import type { RedisKeys } from '../../shared/redis/keys.js';
import { DeliveryGroup } from './delivery-group.js';
import { eventTypeOfPayload, groupKeyOf, PLAIN_JSON, type DeliverySpec, type Frame } from './delivery-spec.js';
import type { EventSubscriber } from './event-subscriber.js';

/**
 * One client's subscription to one job, whatever carries it: a socket of WS /ws/scraping/{id}, one
 * job of a multiplexed WS /ws connection, an SSE response. The fan-out speaks only to this (as
 * Centrifuge's transports: write, write many, close), so join, hand-off, gap recovery and resync
 * are one code path for every transport.
 */
export interface ChannelSocket {
  readonly closed: boolean;
  /** How it wants events (format, filter, interval); absent: the seed's plain JSON. */
  readonly spec?: DeliverySpec;
  /** Sends frames in one batch; a transport past its backpressure limit ends itself. */
  send(frames: readonly Frame[]): void;
  /** Sends frames as fast as the client reads them (waits for drain); resolves when all are handed over or it ended. */
  sendPaced(frames: readonly Frame[]): Promise<void>;
  /**
   * Present on uWS sockets: once live, events reach it through its group's topic (one publish for
   * every socket of the group). Without it, live events are written to it directly.
   */
  joinTopic?(topic: string): void;
  /** Leaves a topic while the connection stays (a multiplexed socket unsubscribing one job). */
  leaveTopic?(topic: string): void;
  /** Frames it sends ahead of a successful serve (the multiplexed `subscribed` message). */
  opening?(servedSeq: number): Frame[];
  /** A refused join; without it the refusal's frames are sent and the subscription closes with its code. */
  refuse?(frames: readonly Frame[], code: number, reason: string): void;
  /** Ends the subscription: a single-job socket closes; a multiplexed one sends a per-job message. */
  close(code: number, reason: string): void;
  /** The connection carrying it when that carries other subscriptions too (drain closes connections). */
  readonly connection?: { readonly closed: boolean; close(code: number, reason: string): void };
}

/** The model's name for it. */
export type Subscription = ChannelSocket;

/** What a joining client is served before it goes live: frames up to `servedSeq`, or a refusal. */
export type InitialServe =
  | { frames: Frame[]; servedSeq: number; /** The first frame is a snapshot (it passes any filter; the frames after it are events). */ snapshot?: boolean }
  | { frames: Frame[]; close: { code: number; reason: string } };

/** A backlog this short is sent in one go; a longer one is paced by the client's reading. */
const CATCH_UP_BATCH = 64;
/** Failed history reads a gap recovery tries again (after 0.1, 0.2, 0.4, 0.8 s) before it resyncs. */
const RECOVERY_READ_RETRIES = 4;
const MAX_CATCH_UP_ROUNDS = 20;

/** Takes the joiner's buffered events above `seq`, emptying the buffer. */
function takeAbove(joiner: Joiner, seq: number): Buffer[] {
  const above = joiner.buffer.filter((payload) => seqOfPayload(payload) > seq);
  joiner.buffer = [];
  return above;
}

interface Joiner {
  socket: ChannelSocket;
  group: DeliveryGroup;
  /** The epoch of the stream it was served from (null: unknown, e.g. served from Postgres). */
  epoch: string | null;
  /** Live events buffered while the joiner's snapshot/history is being read. */
  buffer: Buffer[];
  /** Seq the joiner has been served up to; null while its read is in flight. */
  servedSeq: number | null;
}

class JobChannel {
  /** Highest seq forwarded to the job's groups; -1 before the first event. */
  forwardedSeq = -1;
  /** The event published last: its epoch tells a duplicate from a stream that restarted. */
  lastForwarded: Buffer | null = null;
  /** Every local subscription of the job, joining or live, and its group: the last one out unsubscribes. */
  readonly members = new Map<ChannelSocket, DeliveryGroup>();
  /** Delivery groups by key ('' is the seed's plain JSON on topic `job:{id}`). */
  readonly groups = new Map<string, DeliveryGroup>();
  /** Whether an event's type must be read (some group filters, throttles or is not plain JSON). */
  typed = false;
  readonly joiners = new Set<Joiner>();
  /** Live events held back while a gap is filled from history; null when not recovering. */
  recovering: Buffer[] | null = null;
  /**
   * The last snapshot served to a plain (non-resuming) joiner, reusable by the next ones while
   * nothing newer was forwarded: a connect storm on one job reads Redis once, not per client.
   */
  sharedServe: { servedSeq: number; frames: Frame[]; snapshot?: boolean; generation: number } | null = null;
  subscribed!: Promise<void>;

  constructor(
    readonly jobId: number,
    readonly redisChannel: string,
  ) {}
}

export interface ChannelStats {
  eventsReceived: number;
  eventsForwarded: number;
  duplicatesDropped: number;
  gapsRecovered: number;
  resyncs: number;
}

/**
 * The gateway's per-job fan-out. A job's Redis channel is subscribed when its first local client
 * arrives and unsubscribed when its last leaves (reference counted, rolled back if SUBSCRIBE
 * fails). A job's subscribers are grouped by how they want events (DeliveryGroup): each event is
 * encoded once per group and published once to the group's uWS topic or written to its direct
 * members, never parsed per subscriber.
 *
 * Guarantee: a client gets every event after the point it was served (snapshot or history), in
 * seq order, exactly once. Joining is race-free: the channel is subscribed before the client's
 * state is read, events arriving meanwhile are buffered, and the client joins the topic only once
 * the channel has forwarded the seq it was served up to (until then it is sent events directly).
 * Redis pub/sub is at-most-once, so a seq gap (for example across a Redis reconnect) is filled
 * from the job's history; when history no longer holds it, the job's clients are told to resync.
 */
export class JobChannels {
  private readonly byJob = new Map<number, JobChannel>();
  readonly stats: ChannelStats = { eventsReceived: 0, eventsForwarded: 0, duplicatesDropped: 0, gapsRecovered: 0, resyncs: 0 };
  private started = false;
  /** Bumped whenever the subscriber connection drops: reads taken before may have missed events. */
  private generation = 0;

  constructor(
    private readonly subscriber: EventSubscriber,
    private readonly keys: RedisKeys,
    private readonly eventLog: JobEventLog,
    private readonly publish: (topic: string, frame: Frame, binary: boolean) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.subscriber.onMessage((payload) => this.onMessage(payload));
    this.subscriber.onDisconnect(() => {
      this.generation += 1;
    });
    this.subscriber.onReconnect(() => void this.afterReconnect());
  }

  /** Jobs with at least one local client. */
  get activeJobs(): number {
    return this.byJob.size;
  }

  /** Redis channels this gateway holds (one per active job). */
  get redisChannels(): number {
    return this.byJob.size;
  }

  /** The topic of a job's group (`job:{id}` for plain JSON, as before groups existed). */
  topicOf(jobId: number, groupKey = ''): string {
    return groupKey === '' ? `job:${jobId}` : `job:${jobId}|${groupKey}`;
  }

  /**
   * Attaches a socket to a job: subscribes the job's channel (first client), asks `serve` for what
   * the client gets first (it reads state and history after the subscription is live), sends it
   * with every buffered event above it, then puts the socket live. Returns false when the socket
   * was refused or closed meanwhile.
   */
  async attach(jobId: number, socket: ChannelSocket, serve: () => Promise<InitialServe>, options: { shareable: boolean }): Promise<boolean> {
    const channel = this.acquire(jobId, socket);
    const group = channel.members.get(socket)!;
    const joiner: Joiner = { socket, group, epoch: null, buffer: [], servedSeq: null };
    channel.joiners.add(joiner);
    try {
      await channel.subscribed;
      let initial = options.shareable ? this.sharedServeOf(channel) : null;
      if (!initial) {
        const generation = this.generation;
        initial = await serve();
        if (options.shareable && 'servedSeq' in initial) channel.sharedServe = { ...initial, generation };
      }
      if (socket.closed) return false;
      if ('close' in initial) {
        channel.joiners.delete(joiner);
        if (socket.refuse) {
          socket.refuse(initial.frames, initial.close.code, initial.close.reason);
        } else {
          socket.send(initial.frames);
          socket.close(initial.close.code, initial.close.reason);
        }
        return false;
      }
      // A long history (a resume from far back) goes out at the client's pace, while live events
      // keep collecting in the joiner's buffer; it catches up in rounds until the backlog is short.
      let served = initial.servedSeq;
      const lastServed = initial.frames.at(-1);
      joiner.epoch = lastServed === undefined ? null : epochOfPayload(lastServed);
      let frames = group.initialFrames(initial.frames, initial.snapshot === true);
      const opening = socket.opening?.(served);
      if (opening) frames.unshift(...opening);
      for (let round = 0; frames.length > CATCH_UP_BATCH && round < MAX_CATCH_UP_ROUNDS; round++) {
        await socket.sendPaced(frames);
        if (socket.closed) return false;
        const above = takeAbove(joiner, served);
        if (above.length > 0) served = seqOfPayload(above.at(-1)!);
        frames = group.liveFrames(above);
      }
      // From here to the end: synchronous, so no event is handled in between.
      const rest = takeAbove(joiner, served);
      if (rest.length > 0) served = seqOfPayload(rest.at(-1)!);
      joiner.servedSeq = Math.max(served, channel.forwardedSeq);
      socket.send(frames.concat(group.liveFrames(rest)));
      if (socket.closed) return false;
      if (channel.recovering === null && channel.forwardedSeq >= served) this.goLive(channel, joiner);
      return true;
    } catch (error) {
      channel.joiners.delete(joiner);
      this.log.warn({ jobId, err: error }, 'client could not join its job');
      if (!socket.closed) socket.close(CLOSE_CODES.UNAVAILABLE, 'event stream unavailable, retry');
      return false;
    }
  }

  /**
   * A snapshot served earlier is still exact for a new joiner when it was read on the current
   * subscription and no event above its seq has been forwarded since: every later event reaches
   * the joiner (it is registered before this check), every earlier one is in the snapshot.
   */
  private sharedServeOf(channel: JobChannel): InitialServe | null {
    const shared = channel.sharedServe;
    if (!shared || shared.generation !== this.generation || channel.recovering !== null) return null;
    if (channel.forwardedSeq > shared.servedSeq) {
      channel.sharedServe = null;
      return null;
    }
    return { frames: shared.frames.slice(), servedSeq: shared.servedSeq, ...(shared.snapshot ? { snapshot: true } : {}) };
  }

  /** Every local connection, joining or live, each once (graceful shutdown closes them in batches). */
  sockets(): { readonly closed: boolean; close(code: number, reason: string): void }[] {
    const all = new Set<{ readonly closed: boolean; close(code: number, reason: string): void }>();
    for (const channel of this.byJob.values()) for (const socket of channel.members.keys()) all.add(socket.connection ?? socket);
    return [...all];
  }

  /** Closes every local connection (shutdown without a drain window). */
  closeAll(code: number, reason: string): void {
    for (const connection of this.sockets()) if (!connection.closed) connection.close(code, reason);
  }

  /** Detaches a subscription that ended; the last one out unsubscribes the job's channel. */
  detach(jobId: number, socket: ChannelSocket): void {
    const channel = this.byJob.get(jobId);
    const group = channel?.members.get(socket);
    if (!channel || !group) return;
    channel.members.delete(socket);
    for (const joiner of channel.joiners) if (joiner.socket === socket) channel.joiners.delete(joiner);
    this.leaveGroup(channel, group, socket);
    if (channel.members.size > 0) return;
    this.forget(channel);
    this.subscriber.unsubscribe(channel.redisChannel).catch((error: unknown) => {
      this.log.warn({ jobId: channel.jobId, err: error }, 'unsubscribe failed; the connection resubscribes only what is held');
    });
  }

  private leaveGroup(channel: JobChannel, group: DeliveryGroup, socket: ChannelSocket): void {
    group.size -= 1;
    group.direct.delete(socket);
    if (group.usesTopic && socket.joinTopic) {
      group.topicMembers -= 1;
      socket.leaveTopic?.(group.topic);
    }
    if (group.size > 0) return;
    group.reset();
    channel.groups.delete(groupKeyOf(group.spec));
    channel.typed = [...channel.groups.values()].some((g) => !g.plain);
  }

  /** The job's channel with the socket added as a member, subscribing it for its first member. */
  private acquire(jobId: number, socket: ChannelSocket): JobChannel {
    let channel = this.byJob.get(jobId);
    if (!channel) {
      const name = this.keys.jobChannel(jobId);
      const created = new JobChannel(jobId, name);
      created.subscribed = this.subscriber.subscribe(name).then(
        () => undefined,
        (error: unknown) => {
          // Roll back, so the next client of the job tries again.
          if (this.byJob.get(jobId) === created) this.forget(created);
          throw error;
        },
      );
      created.subscribed.catch(() => undefined);
      channel = created;
      this.byJob.set(jobId, channel);
    }
    const spec = socket.spec ?? PLAIN_JSON;
    const key = groupKeyOf(spec);
    let group = channel.groups.get(key);
    if (!group) {
      group = new DeliveryGroup(spec, this.topicOf(jobId, key), this.publish);
      channel.groups.set(key, group);
      if (!group.plain) channel.typed = true;
    }
    group.size += 1;
    if (group.usesTopic && socket.joinTopic) group.topicMembers += 1;
    channel.members.set(socket, group);
    return channel;
  }

  private forget(channel: JobChannel): void {
    this.byJob.delete(channel.jobId);
  }

  private onMessage(payload: Buffer): void {
    const channel = this.byJob.get(jobIdOfPayload(payload));
    this.stats.eventsReceived += 1;
    if (!channel) return;
    if (channel.recovering !== null) {
      channel.recovering.push(payload);
      return;
    }
    this.deliver(channel, payload, seqOfPayload(payload));
  }

  private deliver(channel: JobChannel, payload: Buffer, seq: number): void {
    if (seq <= channel.forwardedSeq) {
      if (channel.lastForwarded && epochOfPayload(payload) !== epochOfPayload(channel.lastForwarded)) {
        // The stream restarted below what its clients hold: they must refetch, not guess.
        this.resync(channel, 'the job\'s event stream restarted');
        return;
      }
      this.stats.duplicatesDropped += 1;
      return;
    }
    if (channel.forwardedSeq >= 0 && seq > channel.forwardedSeq + 1) {
      // Pub/sub dropped something (a reconnect): fill the gap from history first.
      channel.recovering = [payload];
      void this.recover(channel);
      return;
    }
    channel.forwardedSeq = seq;
    channel.lastForwarded = payload;
    // One read of the type per event, for the groups that filter, throttle or re-encode.
    const eventType = channel.typed ? eventTypeOfPayload(payload) : '';
    for (const group of channel.groups.values()) group.offer(payload, seq, eventType);
    this.stats.eventsForwarded += 1;
    if (channel.joiners.size === 0) return; // the common case: no iterator per event
    for (const joiner of channel.joiners) {
      if (joiner.servedSeq === null) {
        joiner.buffer.push(payload);
      } else if (seq > joiner.servedSeq) {
        if (joiner.group.accepts(eventType)) joiner.socket.send([joiner.group.frameOf(payload, eventType)]);
        joiner.servedSeq = seq;
        this.goLive(channel, joiner);
      } else if (seq === joiner.servedSeq) {
        this.goLive(channel, joiner);
      } else if (joiner.epoch !== null && epochOfPayload(payload) !== joiner.epoch) {
        // Below what it was served, from another stream: Redis lost the job's stream after the
        // joiner's read, and what it holds no longer continues into what comes.
        channel.joiners.delete(joiner);
        joiner.socket.close(CLOSE_CODES.RESYNC, "the job's event stream restarted");
      }
    }
  }

  /** Hands a joiner over to its group: the group's topic for a uWS socket, a direct write otherwise. */
  private goLive(channel: JobChannel, joiner: Joiner): void {
    channel.joiners.delete(joiner);
    const { socket, group } = joiner;
    if (socket.closed) return;
    if (group.usesTopic && socket.joinTopic) socket.joinTopic(group.topic);
    else group.direct.set(socket, joiner.servedSeq ?? -1);
  }

  /** Fills a seq gap from the job's history, then releases the events held back meanwhile. */
  private async recover(channel: JobChannel): Promise<void> {
    const from = channel.forwardedSeq;
    try {
      const read = await this.readForRecovery(channel, from);
      if (read === null) return; // resynced or dropped meanwhile
      if (read.history === 'gap') {
        this.resync(channel, 'history no longer holds the missed events');
        return;
      }
      // No state: Redis lost the stream and nothing was emitted since; the next event continues it.
      for (const payload of read.history ?? []) this.deliverRecovered(channel, Buffer.from(payload));
      const held = channel.recovering ?? [];
      channel.recovering = null;
      this.stats.gapsRecovered += 1;
      for (const payload of held) this.deliver(channel, payload, seqOfPayload(payload));
    } catch (error) {
      this.log.warn({ jobId: channel.jobId, err: error }, 'could not fill an event gap from history');
      this.resync(channel, 'event stream interrupted');
    }
  }

  /**
   * The history read of a recovery, tried again for a little while: right after Redis came back the
   * subscriber may be up before the command connection is, and a read that fails then says nothing
   * about the stream. Null when the channel was resynced or dropped while waiting; throws when
   * Redis stays unreadable.
   */
  private async readForRecovery(channel: JobChannel, from: number) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.eventLog.read(channel.jobId, from);
      } catch (error) {
        if (attempt >= RECOVERY_READ_RETRIES) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      if (this.byJob.get(channel.jobId) !== channel || channel.recovering === null) return null;
    }
  }

  private deliverRecovered(channel: JobChannel, payload: Buffer): void {
    const seq = seqOfPayload(payload);
    if (seq !== channel.forwardedSeq + 1) return;
    const recovering = channel.recovering;
    channel.recovering = null;
    this.deliver(channel, payload, seq);
    channel.recovering = recovering;
  }

  /** Closes a job's clients with RESYNC: they reconnect with their last seq and are served afresh. */
  private resync(channel: JobChannel, reason: string): void {
    this.stats.resyncs += 1;
    channel.recovering = null;
    channel.forwardedSeq = -1;
    channel.lastForwarded = null;
    channel.sharedServe = null;
    for (const group of channel.groups.values()) group.reset();
    this.log.warn({ jobId: channel.jobId, clients: channel.members.size, reason }, 'clients of job told to resync');
    for (const socket of [...channel.members.keys()]) socket.close(CLOSE_CODES.RESYNC, reason);
  }

  /**
   * After Redis came back: make sure every held channel is subscribed again, then fill whatever was
   * published while the connection was down.
   */
  private async afterReconnect(): Promise<void> {
    const channels = [...this.byJob.values()];
    this.log.info({ channels: channels.length }, 'redis subscriber back: resubscribing and filling gaps');
    if (channels.length === 0) return;
    try {
      await this.subscriber.subscribe(...channels.map((c) => c.redisChannel));
    } catch (error) {
      this.log.warn({ err: error }, 'resubscribe failed; waiting for the next reconnect');
      return;
    }
    for (const channel of channels) {
      if (this.byJob.get(channel.jobId) !== channel || channel.recovering !== null) continue;
      if (channel.forwardedSeq < 0) {
        // Nothing forwarded yet: its clients are served from reads taken after this point, or
        // wait for a seq they were served; to be safe, tell them to resync.
        if (channel.joiners.size > 0) this.resync(channel, 'event stream interrupted while joining');
        continue;
      }
      channel.recovering = [];
      void this.recover(channel);
    }
  }
}
