import { readFileSync } from 'node:fs';

/** Descriptors kept for Redis, Postgres, the listen socket, logs and the runtime itself. */
const RESERVED_DESCRIPTORS = 100;

/**
 * How many connections this process's open-file limit allows. Node cannot call setrlimit, so the
 * soft limit is raised by whoever starts the process (`ulimit -n`, docker-compose `ulimits`).
 */
export function describeDescriptorLimit(): { openFilesSoft: number | null; openFilesHard: number | null; maxConnections: number | null } {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    if (soft === undefined) throw new Error('no limit line');
    return {
      openFilesSoft: soft,
      openFilesHard: hard ?? null,
      maxConnections: Number.isFinite(soft) ? Math.max(0, soft - RESERVED_DESCRIPTORS) : null,
    };
  } catch {
    return { openFilesSoft: null, openFilesHard: null, maxConnections: null };
  }
}
