/**
 * Runs `task` for every item, at most `limit` at a time. A task that throws stops the pool: no
 * further item starts, `signal` given to the running tasks aborts, and once they have all settled
 * the first error is thrown. An abort of `outer` works the same way with the abort reason.
 * (Tasks report their own expected failures; a throw here means the whole run cannot go on.)
 */
export async function runPool<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(outer!.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });

  let next = 0;
  let firstError: { error: unknown } | undefined;
  const lane = async () => {
    while (!stop.signal.aborted && next < items.length) {
      const item = items[next++]!;
      try {
        await task(item, stop.signal);
      } catch (error) {
        firstError ??= { error };
        stop.abort(error);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (firstError) throw firstError.error;
  if (stop.signal.aborted) throw stop.signal.reason;
}
