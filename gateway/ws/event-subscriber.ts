import type { Redis } from 'ioredis';

/**
 * The pub/sub connection the fan-out reads events from. One seam, so that a single Redis (plain
 * SUBSCRIBE), a Redis Cluster (sharded SSUBSCRIBE) and a test double all serve `JobChannels`.
 *
 * Guarantee expected of an implementation: messages of one channel arrive in publish order while
 * connected; after a disconnect (`onDisconnect`) nothing is promised until `onReconnect`, when
 * the caller resubscribes what it holds and fills the gap from history.
 */
export interface EventSubscriber {
  /** True while the connection can receive messages. */
  readonly connected: boolean;
  /** A short word for stats and health ("ready", "connecting", "end" …). */
  readonly state: string;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  /** Every message of every subscribed channel, as the bytes published. */
  onMessage(listener: (payload: Buffer) => void): void;
  /** The connection dropped: messages published from now on may be missed. */
  onDisconnect(listener: () => void): void;
  /** The connection is back after a drop (not called for the first connect). */
  onReconnect(listener: () => void): void;
}

/** A single Redis' plain pub/sub, on a connection of its own. */
export function redisEventSubscriber(redis: Redis): EventSubscriber {
  return {
    get connected() {
      return redis.status === 'ready';
    },
    get state() {
      return redis.status;
    },
    subscribe: (...channels) => redis.subscribe(...channels),
    unsubscribe: (...channels) => redis.unsubscribe(...channels),
    onMessage(listener) {
      // The job id is read from the payload's bytes: no string per event for the channel name.
      redis.on('messageBuffer', (_channel: Buffer, payload: Buffer) => listener(payload));
    },
    onDisconnect(listener) {
      redis.on('close', listener);
    },
    onReconnect(listener) {
      let connectedBefore = redis.status === 'ready';
      redis.on('ready', () => {
        if (connectedBefore) listener();
        connectedBefore = true;
      });
    },
  };
}
