import type { BenchContext } from '../harness.js';
import { ClientPool } from '../load-client/client-pool.js';
import { Publisher } from '../publisher/publisher-client.js';
import { ServerGroup, type SystemDef, type SystemName } from '../systems.js';

export interface SystemSetup {
  servers: ServerGroup;
  clients: ClientPool;
  publisher: Publisher;
}

interface SetupOptions {
  processes?: number;
  clientProcesses?: number;
  openFiles?: number;
}

/** Starts the three parts side by side; stops whatever did start if one fails. */
async function startSetup(ctx: BenchContext, def: SystemDef, options: SetupOptions): Promise<SystemSetup> {
  const [publisher, servers, clients] = await Promise.allSettled([
    Publisher.start({
      redisUrl: ctx.redisUrl,
      keyPrefix: ctx.serverEnv.keyPrefix,
      socketIoKey: def.socketIoEmitter ? `${ctx.serverEnv.keyPrefix}socket.io` : null,
    }),
    ServerGroup.start(def, ctx.serverEnv, { processes: options.processes, openFiles: options.openFiles }),
    ClientPool.start(options.clientProcesses ?? ctx.sizes.clientProcesses, options.openFiles ?? 20_000),
  ]);
  if (publisher.status === 'fulfilled' && servers.status === 'fulfilled' && clients.status === 'fulfilled') {
    return { publisher: publisher.value, servers: servers.value, clients: clients.value };
  }
  await stopSetup({
    publisher: publisher.status === 'fulfilled' ? publisher.value : null,
    servers: servers.status === 'fulfilled' ? servers.value : null,
    clients: clients.status === 'fulfilled' ? clients.value : null,
  });
  const failed = [publisher, servers, clients].find((r) => r.status === 'rejected') as PromiseRejectedResult;
  throw failed.reason;
}

async function stopSetup(setup: { [K in keyof SystemSetup]: SystemSetup[K] | null }): Promise<void> {
  await setup.clients?.close();
  await setup.servers?.stop();
  await setup.publisher?.close();
}

/**
 * Single-process setups kept for the whole run when the run reuses them (the smoke run: starting
 * processes is most of its time); every scenario still gets its connections fresh.
 */
export class SetupCache {
  private readonly setups = new Map<SystemName, Promise<SystemSetup>>();

  get(ctx: BenchContext, def: SystemDef): Promise<SystemSetup> {
    let setup = this.setups.get(def.name);
    if (!setup) {
      setup = startSetup(ctx, def, {});
      setup.catch(() => this.setups.delete(def.name));
      this.setups.set(def.name, setup);
    }
    return setup;
  }

  async closeAll(): Promise<void> {
    const all = [...this.setups.values()];
    this.setups.clear();
    await Promise.all(all.map(async (s) => stopSetup(await s).catch(() => undefined)));
  }
}

export interface SystemLease {
  setup: SystemSetup;
  /** Done with it: stops a fresh setup, drops the connections of a kept one. Safe to call twice. */
  release(): Promise<void>;
}

/**
 * A system's servers, the load clients and a publisher (with the Socket.IO emitter for that
 * peer): fresh ones, or, in a run that keeps setups, the system's single-process setup.
 */
export async function acquireSystem(ctx: BenchContext, def: SystemDef, options: SetupOptions = {}): Promise<SystemLease> {
  let released: Promise<void> | null = null;
  if (ctx.setupCache && (options.processes ?? 1) === 1) {
    const setup = await ctx.setupCache.get(ctx, def);
    return { setup, release: () => (released ??= setup.clients.disconnect()) };
  }
  const setup = await startSetup(ctx, def, options);
  return { setup, release: () => (released ??= stopSetup(setup)) };
}

/** Runs `body` with a system (see acquireSystem) and releases it whatever happens. */
export async function withSystem<T>(ctx: BenchContext, def: SystemDef, options: SetupOptions, body: (setup: SystemSetup) => Promise<T>): Promise<T> {
  const lease = await acquireSystem(ctx, def, options);
  try {
    return await body(lease.setup);
  } finally {
    await lease.release();
  }
}
