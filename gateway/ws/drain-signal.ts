/** How long a paced send waits for a drain event before it looks at the buffer again. */
const DRAIN_RECHECK_MS = 100;

/**
 * What a paced send waits on between two batches, for every transport (WebSocket, /ws, SSE):
 * the transport's next drain — or a short while regardless, so that a drain that came and went
 * unseen can never stall a catch-up. Made only when a send first has to wait, so an idle
 * connection carries none.
 */
export class DrainSignal {
  private waiter: (() => void) | null = null;

  /** Resolves on the next `wake()`, or after DRAIN_RECHECK_MS. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiter = resolve;
      setTimeout(resolve, DRAIN_RECHECK_MS).unref();
    });
  }

  /** The transport drained, or closed: whoever waits looks again now. */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
