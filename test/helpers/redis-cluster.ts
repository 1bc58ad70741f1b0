import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { slotOf } from '../../shared/redis/slots.js';

const run = promisify(execFile);

interface ClusterNode {
  port: number;
  child: ChildProcess | null;
}

/**
 * A Redis Cluster of the test's own: redis-server processes in cluster mode on free loopback
 * ports, joined by `redis-cli --cluster create`, masters with replicas. Keeps nothing on disk but
 * the nodes' cluster config, in a temporary directory removed by stop(), which kills every node
 * by PID. Short node timeout: a dead master is failed over in a couple of seconds.
 */
export class RedisTestCluster {
  private constructor(
    private readonly nodes: ClusterNode[],
    private readonly dir: string,
  ) {}

  static async start(options: { masters?: number; replicas?: number; nodeTimeoutMs?: number } = {}): Promise<RedisTestCluster> {
    // A machine busy with other tests may still take a port from under a node: start afresh.
    for (let attempt = 1; ; attempt++) {
      try {
        return await RedisTestCluster.startOnce(options);
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  }

  private static async startOnce(options: { masters?: number; replicas?: number; nodeTimeoutMs?: number }): Promise<RedisTestCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 1;
    const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
    const ports: number[] = [];
    while (ports.length < masters * (1 + replicas)) {
      // Below the ephemeral range (32768 and up here), so that no client socket of another test
      // takes the port between this check and redis-server's bind; the cluster bus is port + 10000.
      const port = 12_000 + Math.floor(Math.random() * 10_000);
      if (!ports.some((p) => Math.abs(p - port) === 10_000 || p === port) && (await canListen(port)) && (await canListen(port + 10_000))) ports.push(port);
    }
    const cluster = new RedisTestCluster(ports.map((port) => ({ port, child: null })), dir);
    try {
      for (const node of cluster.nodes) cluster.spawnNode(node, options.nodeTimeoutMs ?? 1000);
      await Promise.all(cluster.nodes.map((node) => waitForPing(node.port)));
      await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 20_000 });
      await cluster.waitUntilHealthy(masters, replicas);
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  private spawnNode(node: ClusterNode, nodeTimeoutMs: number): void {
    node.child = spawn(
      'redis-server',
      [
        '--port', String(node.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir,
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${node.port}.conf`, '--cluster-node-timeout', String(nodeTimeoutMs),
        // A replica takes over however long it was out of touch, and shards that are up keep serving.
        '--cluster-replica-validity-factor', '0', '--cluster-require-full-coverage', 'no',
      ],
      { stdio: 'ignore' },
    );
  }

  /** Seeds for REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.alivePorts().map((p) => `127.0.0.1:${p}`).join(',');
  }

  get seedList(): { host: string; port: number }[] {
    return this.alivePorts().map((port) => ({ host: '127.0.0.1', port }));
  }

  alivePorts(): number[] {
    return this.nodes.filter((n) => n.child).map((n) => n.port);
  }

  /** Masters and their replicas as the cluster sees them now: port → its replicas' ports. */
  async topology(askPorts = this.alivePorts()): Promise<{ master: number; replicas: number[]; slots: [number, number][] }[]> {
    let lastError: unknown;
    // Any live node answers for the whole cluster; one that is going away may not.
    for (const port of askPorts) {
      const admin = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      admin.on('error', () => undefined);
      try {
        await admin.connect();
        const slots = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number], ...[string, number][]][];
        const byMaster = new Map<number, { master: number; replicas: number[]; slots: [number, number][] }>();
        for (const [from, to, master, ...replicas] of slots) {
          const entry = byMaster.get(master[1]) ?? { master: master[1], replicas: replicas.map((r) => r[1]), slots: [] };
          entry.slots.push([from, to]);
          byMaster.set(master[1], entry);
        }
        return [...byMaster.values()].sort((a, b) => a.master - b.master);
      } catch (error) {
        lastError = error;
      } finally {
        admin.disconnect();
      }
    }
    throw lastError ?? new Error('no live node');
  }

  /** The master serving a key (or channel) now, and its replicas. */
  async shardOf(key: string): Promise<{ master: number; replicas: number[] }> {
    const slot = slotOf(key);
    const shard = (await this.topology()).find((s) => s.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!shard) throw new Error(`no master serves slot ${slot}`);
    return shard;
  }

  /** Graceful failover: the replica takes over from its master, which becomes its replica. */
  async failover(replicaPort: number): Promise<void> {
    if (!this.alivePorts().includes(replicaPort)) throw new Error(`${replicaPort} is not a live node of this cluster`);
    const replica = adminClient(replicaPort);
    try {
      await replica.call('CLUSTER', 'FAILOVER');
    } finally {
      replica.disconnect();
    }
  }

  /** SIGKILL of one node: no goodbye, its data and its role are gone until the cluster fails it over. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    const child = node?.child;
    if (!node || !child) return;
    node.child = null;
    // A node that could not start (its port taken) is gone already: no exit to wait for.
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    child.kill('SIGCONT');
    await exited;
  }

  /** SIGSTOP / SIGCONT of one node: frozen, it neither replicates nor answers, nor reconnects. */
  freeze(port: number, frozen: boolean): void {
    this.nodes.find((n) => n.port === port)?.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Waits until the master of `key` is `notPort` no more and the cluster serves the key again. */
  async waitForNewMaster(key: string, notPort: number, timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const { master } = await this.shardOf(key);
        if (master !== notPort) {
          const node = new Redis(master, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
          node.on('error', () => undefined);
          try {
            await node.connect();
            const info = (await node.call('CLUSTER', 'INFO')) as string;
            if (info.includes('cluster_state:ok')) return master;
          } finally {
            node.disconnect();
          }
        }
      } catch {
        // A node that is going away answers nothing: ask again.
      }
      if (Date.now() > deadline) throw new Error(`no new master for ${key} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** PUBSUB SHARDNUMSUB of each channel on each live node: port → channel → subscribers. */
  async shardNumSub(channels: string[]): Promise<Map<number, Map<string, number>>> {
    const out = new Map<number, Map<string, number>>();
    for (const port of this.alivePorts()) {
      const node = adminClient(port);
      try {
        const reply = (await node.call('PUBSUB', 'SHARDNUMSUB', ...channels)) as (string | number)[];
        const counts = new Map<string, number>();
        for (let i = 0; i < reply.length; i += 2) counts.set(String(reply[i]), Number(reply[i + 1]));
        out.set(port, counts);
      } finally {
        node.disconnect();
      }
    }
    return out;
  }

  private async waitUntilHealthy(masters: number, replicas: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let healthy = true;
      for (const port of this.alivePorts()) {
        const node = adminClient(port);
        try {
          const info = (await node.call('CLUSTER', 'INFO')) as string;
          if (!info.includes('cluster_state:ok')) healthy = false;
          const replication = await node.info('replication');
          if (replication.includes('role:master') && !replication.includes(`connected_slaves:${replicas}`)) healthy = false;
          if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) healthy = false;
        } finally {
          node.disconnect();
        }
      }
      // Every node knows every master and its replicas (gossip has settled).
      for (const port of healthy ? this.alivePorts() : []) {
        const shards = await this.topology([port]);
        if (shards.length !== masters || shards.some((shard) => shard.replicas.length !== replicas)) healthy = false;
      }
      if (healthy) return;
      if (Date.now() > deadline) throw new Error('the test cluster did not become healthy');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.port)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A one-off admin connection that fails at once instead of retrying a node that is gone. */
function adminClient(port: number): Redis {
  const client = new Redis(port, '127.0.0.1', { retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  client.on('error', () => undefined);
  return client;
}

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}
