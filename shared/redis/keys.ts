/**
 * The only builder of Redis key and channel names. Every per-job name carries the hash tag
 * `{job:N}`, so a per-job script touches one slot and the same code runs on Redis Cluster.
 */
export class RedisKeys {
  private readonly channelPrefix: string;

  constructor(readonly prefix: string) {
    this.channelPrefix = `${prefix}{job:`;
  }

  /** Hash: seq, epoch, status, progress, results_count, started_at, completed_at, updated_at. */
  jobState(jobId: number): string {
    return `${this.prefix}{job:${jobId}}:state`;
  }

  /** List of the job's serialized events, oldest first, capped. */
  jobHistory(jobId: number): string {
    return `${this.prefix}{job:${jobId}}:history`;
  }

  /** Pub/sub channel carrying the job's serialized events. */
  jobChannel(jobId: number): string {
    return `${this.channelPrefix}${jobId}}:events`;
  }

  /** The job id a channel name belongs to, or null for a channel that is not a job channel. */
  jobIdOfChannel(channel: string): number | null {
    if (!channel.startsWith(this.channelPrefix) || !channel.endsWith('}:events')) return null;
    const id = Number(channel.slice(this.channelPrefix.length, -'}:events'.length));
    return Number.isSafeInteger(id) && id > 0 ? id : null;
  }

  // --- Abuse limits (gateway) ---
  /**
   * Prefix of one limiter's counters (rate-limiter-flexible appends `:<holder>`, e.g. an IP or a
   * key id). Shared by every gateway of the deployment; no hash tag: each counter is one key.
   */
  limiter(name: 'jobs' | 'upgrades' | 'connections' | 'replay'): string {
    return `${this.prefix}limit:${name}`;
  }

  /**
   * BullMQ's own key prefix (it appends `:<queue>:…`). Hash-tagged: BullMQ's scripts touch many
   * keys of a queue at once, so on Redis Cluster the whole queue lives in one slot.
   */
  get bullmqPrefix(): string {
    return `{${this.prefix}bull}`;
  }

  /** Prefix of the fare sources' shared rate-limit counters (rate-limiter-flexible appends `:<source>`). */
  get sourceRateLimitPrefix(): string {
    return `${this.prefix}ratelimit:source`;
  }
}
