import { connect, createServer, type Server, type Socket } from 'node:net';
import { listenOnFreePort } from './ports.js';

/**
 * A loopback TCP proxy a test controls, put between a service and Redis to drop its connections
 * at a chosen moment: `cut()` closes every connection through it and holds new ones (accepted,
 * nothing forwarded) until `restore()`, so the service is disconnected for exactly as long as the
 * test says — while the test keeps writing to Redis directly.
 */
export class TcpProxy {
  private readonly links = new Set<{ client: Socket; upstream: Socket | null }>();
  private held: { client: Socket; pending: Buffer[] }[] = [];
  private isCut = false;
  /** Connections made through the proxy since it started (reconnects count). */
  connections = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null;
    const server = createServer((client) => proxy!.accept(client));
    const port = await listenOnFreePort(server);
    proxy = new TcpProxy(server, port, target);
    return proxy;
  }

  /** A proxy in front of the Redis at `url`, with its own redis:// URL. */
  static async forRedis(url: string): Promise<TcpProxy & { url: string }> {
    const { hostname, port } = new URL(url);
    const proxy = await TcpProxy.start({ host: hostname, port: Number(port || 6379) });
    return Object.assign(proxy, { url: `redis://127.0.0.1:${proxy.port}` });
  }

  /** Closes every open connection and holds new ones until `restore()`. Returns how many were closed. */
  cut(): number {
    this.isCut = true;
    const n = this.links.size;
    for (const link of [...this.links]) {
      link.client.destroy();
      link.upstream?.destroy();
    }
    this.links.clear();
    return n;
  }

  /** Lets held and new connections through again. */
  restore(): void {
    this.isCut = false;
    const held = this.held;
    this.held = [];
    for (const { client, pending } of held) if (!client.destroyed) this.forward(client, pending);
  }

  async close(): Promise<void> {
    this.cut();
    for (const { client } of this.held) client.destroy();
    this.held = [];
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket): void {
    this.connections += 1;
    client.on('error', () => undefined);
    if (this.isCut) {
      const entry = { client, pending: [] as Buffer[] };
      client.on('data', (chunk: Buffer) => entry.pending.push(chunk));
      client.pause();
      this.held.push(entry);
      return;
    }
    this.forward(client, []);
  }

  private forward(client: Socket, pending: Buffer[]): void {
    client.removeAllListeners('data');
    const upstream = connect(this.target);
    const link = { client, upstream };
    this.links.add(link);
    upstream.on('error', () => client.destroy());
    const end = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', end);
    upstream.once('close', end);
    upstream.once('connect', () => {
      for (const chunk of pending) upstream.write(chunk);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}
