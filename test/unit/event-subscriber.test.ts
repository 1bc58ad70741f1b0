import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisEventSubscriber } from '../../gateway/ws/event-subscriber.js';

/** The single-Redis subscriber over a stand-in ioredis client whose status and events the test drives. */
class FakeRedis extends EventEmitter {
  status = 'ready';
  calls: string[] = [];
  subscribe(...channels: string[]) {
    this.calls.push(`subscribe ${channels.join(' ')}`);
    return Promise.resolve(channels.length);
  }
  unsubscribe(...channels: string[]) {
    this.calls.push(`unsubscribe ${channels.join(' ')}`);
    return Promise.resolve(0);
  }
}

describe('redisEventSubscriber', () => {
  it('reports the connection state', () => {
    const redis = new FakeRedis();
    const sub = redisEventSubscriber(redis as unknown as Redis);
    expect([sub.connected, sub.state]).toEqual([true, 'ready']);
    redis.status = 'reconnecting';
    expect([sub.connected, sub.state]).toEqual([false, 'reconnecting']);
  });

  it('passes subscribe and unsubscribe through', async () => {
    const redis = new FakeRedis();
    const sub = redisEventSubscriber(redis as unknown as Redis);
    expect(await sub.subscribe('a', 'b')).toBe(2);
    await sub.unsubscribe('a');
    expect(redis.calls).toEqual(['subscribe a b', 'unsubscribe a']);
  });

  it('hands over the payload bytes of every message', () => {
    const redis = new FakeRedis();
    const sub = redisEventSubscriber(redis as unknown as Redis);
    const got: Buffer[] = [];
    sub.onMessage((payload) => got.push(payload));
    redis.emit('messageBuffer', Buffer.from('chan'), Buffer.from('payload'));
    expect(got.map(String)).toEqual(['payload']);
  });

  it('reports a drop, and a reconnect only after a drop, not the first connect', () => {
    const redis = new FakeRedis();
    redis.status = 'connecting';
    const sub = redisEventSubscriber(redis as unknown as Redis);
    const seen: string[] = [];
    sub.onDisconnect(() => seen.push('down'));
    sub.onReconnect(() => seen.push('back'));
    redis.emit('ready'); // the first connect
    redis.emit('close');
    redis.emit('ready');
    expect(seen).toEqual(['down', 'back']);
  });

  it('reports every ready as a reconnect when it was connected already', () => {
    const redis = new FakeRedis();
    const sub = redisEventSubscriber(redis as unknown as Redis);
    let back = 0;
    sub.onReconnect(() => (back += 1));
    redis.emit('ready');
    expect(back).toBe(1);
  });
});
