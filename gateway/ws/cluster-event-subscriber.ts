import type { Cluster } from 'ioredis';
import { slotOf } from '../../shared/redis/slots.js';
import type { EventSubscriber } from './event-subscriber.js';

/**
 * A Redis Cluster's sharded pub/sub (SSUBSCRIBE), on an ioredis Cluster client created with
 * `shardedSubscribers: true`: one subscriber connection per master that holds a subscribed
 * channel, so a gateway receives only the events of its jobs, each from the shard of the job.
 *
 * ioredis re-subscribes a shard's channels on whichever master serves them after a failover or a
 * slot move ('subscribersReady'). Events published meanwhile may be missed, so a topology change
 * is reported as a disconnect, and the re-subscription as a reconnect: JobChannels then fills the
 * gap from history (and tells clients to resync when history lost it).
 */
export function clusterEventSubscriber(cluster: Cluster): EventSubscriber {
  const disconnectListeners: (() => void)[] = [];
  const reconnectListeners: (() => void)[] = [];
  // Before the first subscription nothing can be missed: the start-up slot loads are not news.
  let subscribedOnce = false;
  let down = false;
  const disconnected = () => {
    if (!subscribedOnce || down) return;
    down = true;
    for (const listener of disconnectListeners) listener();
  };
  cluster.on('-node', disconnected);
  cluster.on('close', disconnected);
  cluster.on('subscribersReady', () => {
    if (!subscribedOnce) return;
    // A move or failover that dropped no connection still re-subscribed channels somewhere new.
    disconnected();
    down = false;
    for (const listener of reconnectListeners) listener();
  });

  /** SSUBSCRIBE takes the channels of one slot at a time. */
  const bySlot = (channels: string[]): string[][] => {
    const groups = new Map<number, string[]>();
    for (const channel of channels) {
      const slot = slotOf(channel);
      const group = groups.get(slot);
      if (group) group.push(channel);
      else groups.set(slot, [channel]);
    }
    return [...groups.values()];
  };

  return {
    // A shard failing over leaves the other shards' events flowing: the gateway stays ready (a
    // health check failing on every gateway at once would take them all out of the balancer).
    get connected() {
      return cluster.status === 'ready';
    },
    get state() {
      return down && cluster.status === 'ready' ? 'resubscribing' : cluster.status;
    },
    subscribe: (...channels) => {
      subscribedOnce = true;
      return Promise.all(bySlot(channels).map((group) => cluster.ssubscribe(...group)));
    },
    unsubscribe: (...channels) => Promise.all(bySlot(channels).map((group) => cluster.sunsubscribe(...group))),
    onMessage(listener) {
      cluster.on('smessageBuffer', (_channel: Buffer, payload: Buffer) => listener(payload));
    },
    onDisconnect(listener) {
      disconnectListeners.push(listener);
    },
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
  };
}
