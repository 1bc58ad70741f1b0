import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

type Message = { type: string };
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/**
 * A bench child process (a load client) under its own open-file limit, and its request/reply
 * channel: every command but 'exit' carries an id, and the reply with that id answers it.
 */
export class IpcChild<Command extends Message, Reply extends Message> {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  readonly ready: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    this.ready = new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`load client exited early (code ${code})`)));
      child.on('message', (reply: Reply & { id?: number }) => {
        if (reply.type === 'ready') return resolve();
        const waiter = this.waiting.get(reply.id!);
        this.waiting.delete(reply.id!);
        waiter?.(reply);
      });
    });
    this.ready.catch(() => undefined);
  }

  /** Starts `entry` under tsx; prlimit execs node in place, so the pid is the client's. */
  static fork<C extends Message, R extends Message>(entry: string, openFiles: number): IpcChild<C, R> {
    const child = fork(fileURLToPath(entry), [], {
      cwd: ROOT,
      execPath: 'prlimit',
      execArgv: [`--nofile=${openFiles}:${openFiles}`, process.execPath, '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new IpcChild<C, R>(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<R extends Reply>(command: WithoutId<Exclude<Command, { type: 'exit' }>>): Promise<R> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`load client ${this.pid} exited during ${command.type}`));
      this.child.once('exit', onExit);
      this.waiting.set(id, (r) => {
        this.child.off('exit', onExit);
        resolve(r as R);
      });
      this.child.send({ ...command, id });
    });
  }

  /** Asks the process to exit (a disconnected IPC channel ends it too); SIGKILL after 5 s. */
  exit(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.disconnect();
    });
  }
}
