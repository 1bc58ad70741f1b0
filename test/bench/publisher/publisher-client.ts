import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PublisherCommand, PublisherReply, RunResult } from './messages.js';

const ENTRY = fileURLToPath(new URL('./publisher-main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The orchestrator's handle on the publisher process. */
export class Publisher {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: PublisherReply) => void>();

  private constructor(readonly child: ChildProcess) {
    child.on('message', (reply: PublisherReply) => {
      if (reply.type === 'ready') return;
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.(reply);
    });
  }

  static async start(options: { redisUrl: string; keyPrefix: string; socketIoKey: string | null; maxEvents?: number }): Promise<Publisher> {
    const child = fork(ENTRY, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`publisher exited early (code ${code})`)));
      child.on('message', (m: PublisherReply) => m.type === 'ready' && resolve());
    });
    const publisher = new Publisher(child);
    await publisher.request({ type: 'init', maxEvents: 10_000, ...options });
    return publisher;
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<R extends PublisherReply>(command: WithoutId<Exclude<PublisherCommand, { type: 'exit' }>>): Promise<R> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`publisher exited during ${command.type}`));
      this.child.once('exit', onExit);
      this.waiting.set(id, (r) => {
        this.child.off('exit', onExit);
        resolve(r as R);
      });
      this.child.send({ ...command, id } as PublisherCommand);
    });
  }

  async createJobs(first: number, last: number): Promise<void> {
    await this.request({ type: 'create-jobs', first, last });
  }

  run(first: number, last: number, rate: number, durationMs: number): Promise<RunResult> {
    const count = Math.max(1, Math.round((rate * durationMs) / 1000));
    return this.request<RunResult>({ type: 'run', first, last, rate, count, maxMs: durationMs * 3 + 5000, background: false });
  }

  /** One event for each job of the range, as fast as Redis takes them. */
  emitOnce(first: number, last: number): Promise<RunResult> {
    const count = last - first + 1;
    return this.request<RunResult>({ type: 'run', first, last, rate: 20_000, count, maxMs: 60_000, background: false });
  }

  async startBackground(first: number, last: number, rate: number, maxMs: number): Promise<void> {
    await this.request({ type: 'run', first, last, rate, count: Math.ceil((rate * maxMs) / 1000), maxMs, background: true });
  }

  stop(): Promise<RunResult> {
    return this.request<RunResult>({ type: 'stop' });
  }

  async seqs(): Promise<number[]> {
    return (await this.request<{ type: 'seqs'; id: number; seqs: number[] }>({ type: 'seqs' })).seqs;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ type: 'exit' });
    await exited;
  }
}
