import { pino, type Logger } from 'pino';

export type { Logger };

/** One root logger per process; modules take child loggers tagged with job id, scraper or connection id. */
export function createLogger(service: string, level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid, ...bindings } });
}
