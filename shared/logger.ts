import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export type LogFormat = 'auto' | 'json' | 'pretty';

/** One root logger per process; modules take child loggers tagged with job id, scraper or connection id. */
export function createLogger(service: string, level: string, bindings: Record<string, unknown> = {}, format: LogFormat = 'auto'): Logger {
  const options = { name: service, level, base: { service, pid: process.pid, ...bindings } };
  const pretty = format === 'json' ? null : prettyStream(format === 'pretty');
  return pretty ? pino(options, pretty) : pino(options);
}

/**
 * pino-pretty, in the main thread and synchronous (a worker-thread transport can lose the last
 * lines before a process.exit, which is exactly when they matter). `auto` wants a terminal, and
 * pino-pretty is a development dependency: the production images log JSON whatever they run in.
 */
function prettyStream(forced: boolean): DestinationStream | null {
  if (!forced && process.stdout.isTTY !== true) return null;
  try {
    const require = createRequire(import.meta.url);
    const build = require('pino-pretty') as (options: Record<string, unknown>) => DestinationStream;
    return build({
      sync: true,
      // Colours when the terminal takes them (pino-pretty asks colorette: TTY, FORCE_COLOR, NO_COLOR).
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname,service,name,gatewayId',
      singleLine: true,
    });
  } catch {
    return null;
  }
}
