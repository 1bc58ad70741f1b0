import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { emittedAtOfPayload } from '../shared/redis/job-event-log.js';
import type { GatewayContext } from './context.js';

/** How an upgrade to a job's stream ended (the `outcome` label of scout_gateway_upgrades_total). */
export type UpgradeOutcome = 'accepted' | 'bad_request' | 'unauthorized' | 'forbidden' | 'rate_limited' | 'draining' | 'not_found';

/**
 * The gateway's Prometheus metrics. Whatever the gateway already counts (connections, channel
 * stats) is read when Prometheus scrapes, so the hot path pays nothing for it; only the delivery
 * latency is observed per event (once per event forwarded, never per socket).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly upgrades: Counter<'outcome'>;
  private readonly deliveryLatency: Histogram;

  constructor(ctx: Pick<GatewayContext, 'state' | 'channels' | 'redis' | 'subscriber' | 'config'>) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ gateway_id: ctx.config.gateway.id });
    // Process CPU, memory, file descriptors, GC and event-loop lag (nodejs_eventloop_lag_seconds).
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'scout_gateway_connections',
      help: 'Open WebSocket connections.',
      registers,
      collect() {
        this.set(ctx.state.connections);
      },
    });
    new Gauge({
      name: 'scout_gateway_subscribed_jobs',
      help: 'Jobs with at least one client on this gateway (one Redis channel each).',
      registers,
      collect() {
        this.set(ctx.channels.activeJobs);
      },
    });
    new Gauge({
      name: 'scout_gateway_redis_connected',
      help: '1 while both Redis connections (commands and subscriber) are ready, else 0.',
      registers,
      collect() {
        this.set(ctx.redis.status === 'ready' && ctx.subscriber.connected ? 1 : 0);
      },
    });
    monotonic('scout_gateway_connections_opened_total', 'WebSocket connections opened.', () => ctx.state.connectionsOpened);
    monotonic('scout_gateway_slow_consumers_closed_total', 'Clients disconnected at the backpressure limit.', () => ctx.state.slowConsumersClosed);
    monotonic('scout_gateway_events_received_total', 'Events received from Redis.', () => ctx.channels.stats.eventsReceived);
    monotonic('scout_gateway_events_forwarded_total', 'Events published to their job topic (once per event, not per client).', () => ctx.channels.stats.eventsForwarded);
    monotonic('scout_gateway_duplicates_dropped_total', 'Events dropped as already forwarded.', () => ctx.channels.stats.duplicatesDropped);
    monotonic('scout_gateway_gap_recoveries_total', 'Seq gaps filled from history.', () => ctx.channels.stats.gapsRecovered);
    monotonic('scout_gateway_resyncs_total', 'Times clients of a job were told to resync (close 4000).', () => ctx.channels.stats.resyncs);

    this.upgrades = new Counter({
      name: 'scout_gateway_upgrades_total',
      help: 'WebSocket upgrades by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.deliveryLatency = new Histogram({
      name: 'scout_gateway_event_delivery_seconds',
      help: "Time from an event's emit (its timestamp) to its write to the job's sockets.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });

    /** A counter mirroring a number the gateway already keeps. */
    function monotonic(name: string, help: string, read: () => number): void {
      let reported = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read();
          if (now > reported) this.inc(now - reported);
          reported = now;
        },
      });
    }
  }

  upgrade(outcome: UpgradeOutcome): void {
    this.upgrades.inc({ outcome });
  }

  /** Called once per event forwarded to a job's topic. */
  delivered(payload: string | Buffer): void {
    const emittedAt = emittedAtOfPayload(payload);
    if (Number.isFinite(emittedAt)) this.deliveryLatency.observe(Math.max(0, Date.now() - emittedAt) / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
