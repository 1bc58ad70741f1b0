import type { Logger } from '../shared/logger.js';
import { cancelNoticeSchema } from '../shared/job-cancellation.js';
import type { RedisClient } from '../shared/redis/cluster-connection.js';
import type { RedisKeys } from '../shared/redis/keys.js';

/**
 * Hears the gateways' cancel notices (RedisKeys.cancelChannel) and hands each job id to
 * `onCancel`, which aborts the job if this worker runs it.
 *
 * Why pub/sub and not a key the lifecycle polls: it reaches the running worker within
 * milliseconds without a Redis read per job per tick. It can miss a notice (this worker's
 * subscriber reconnecting at that moment), and that is safe: the cancel is decided in Postgres
 * first, every write of the lifecycle is conditional on the row still being pending or running,
 * so a job whose notice was lost runs its searches to the end, cannot record them as completed,
 * and then ends its stream as `cancelled`. The notice only makes the stop fast.
 */
export async function listenForCancels(subscriber: RedisClient, keys: RedisKeys, log: Logger, onCancel: (jobId: number) => void): Promise<void> {
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== keys.cancelChannel) return;
    let notice;
    try {
      notice = cancelNoticeSchema.parse(JSON.parse(message));
    } catch (error) {
      log.warn({ message, err: error }, 'malformed cancel notice ignored');
      return;
    }
    onCancel(notice.jobId);
  });
  await subscriber.subscribe(keys.cancelChannel);
}
