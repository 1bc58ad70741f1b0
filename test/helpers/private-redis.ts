import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** Re-exported for older imports; redis-server is given a port no other service of this process got. */
export { freePort };

/**
 * A redis-server of the test's own, on its own port, that the test may stop and restart (the
 * shared one must not be disturbed). Keeps nothing on disk, like the default deployment.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Starts redis-server on this object's port (again). redis-server cannot report a port it chose,
   * so the port is fixed; should another process have taken it meanwhile, this fails at once
   * (redis-server exits, or the server answering is not ours) instead of testing a stranger.
   */
  async restart(): Promise<void> {
    if (this.child) throw new Error('already running');
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    this.child = child;
    let exited = false;
    child.once('exit', () => (exited = true));
    const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1, commandTimeout: 500 });
    probe.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    try {
      for (;;) {
        if (exited) throw new Error(`redis-server exited at start: port ${this.port} is probably taken`);
        try {
          await probe.connect().catch(() => undefined);
          if ((await probe.ping()) === 'PONG') break;
        } catch {
          if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const info = await probe.info('server');
      if (!info.includes(`process_id:${child.pid}\r\n`)) throw new Error(`the Redis on port ${this.port} is not the one started here`);
    } catch (error) {
      await this.stop();
      throw error;
    } finally {
      probe.disconnect();
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered — a hung Redis. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a paused server run again (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops the server (SIGKILL: no goodbye to its clients); its data is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
