import { Histogram } from '../lib/histogram.js';

/** Most seqs a connection remembers as missing (to tell a late event from a duplicate). */
const MAX_MISSING = 10_000;

/** What one load client process has seen in the current phase, over all its connections. */
export class PhaseTotals {
  /** Events emitted at or after this moment count for latency. */
  phaseStartUs = 0;
  unique = 0;
  caughtUp = 0;
  lastReceiptUs = 0;
  readonly latency = new Histogram();
  readonly catchUp = new Histogram();

  reset(nowUs: number): void {
    this.phaseStartUs = nowUs;
    this.unique = 0;
    this.caughtUp = 0;
    this.lastReceiptUs = 0;
    this.latency.reset();
    this.catchUp.reset();
  }
}

/**
 * One connection's view of its job's stream: every seq above `base` must arrive once, in order.
 * A seq above the last one seen leaves the skipped ones missing; a seq that fills a missing one
 * was reordered; anything else at or below the last one is a duplicate.
 */
export class SeqRecord {
  last = -1;
  base = 0;
  missing: number[] | null = null;
  /** Missing seqs beyond what `missing` holds. */
  overflow = 0;
  unique = 0;
  duplicates = 0;
  reordered = 0;
  stale = 0;
  /**
   * Set by a storm: when the connection was dropped. It is caught up at the first event emitted
   * after it (whatever it missed on the way is counted as lost, not waited for).
   */
  dropUs = 0;
  caughtUpUs = -1;
  /** Received at least one live event (not only a snapshot). */
  live = false;

  constructor(private readonly totals: PhaseTotals) {}

  /** Starts a phase: seqs above `base` are expected from here on. */
  startPhase(base: number): void {
    this.base = base;
    if (this.last < base) this.last = base;
    this.missing = null;
    this.overflow = 0;
    this.unique = 0;
    this.duplicates = 0;
    this.reordered = 0;
    this.stale = 0;
  }

  record(seq: number, emittedUs: number, nowUs: number): void {
    const t = this.totals;
    if (seq > this.last) {
      if (this.last >= 0 && seq > this.last + 1) this.addMissing(Math.max(this.last, this.base) + 1, seq - 1);
      this.last = seq;
      if (seq > this.base) {
        this.unique += 1;
        t.unique += 1;
      }
    } else if (seq <= this.base) {
      this.stale += 1;
    } else if (this.missing !== null && this.takeMissing(seq)) {
      this.reordered += 1;
      this.unique += 1;
      t.unique += 1;
    } else {
      this.duplicates += 1;
    }
    t.lastReceiptUs = nowUs;
    if (emittedUs > 0) {
      this.live = true;
      if (emittedUs >= t.phaseStartUs) t.latency.add(nowUs - emittedUs);
      if (this.dropUs > 0 && this.caughtUpUs < 0 && emittedUs >= this.dropUs) {
        this.caughtUpUs = nowUs - this.dropUs;
        t.catchUp.add(this.caughtUpUs);
        t.caughtUp += 1;
      }
    }
  }

  /** Events of the phase not received: expected minus distinct received. */
  notReceived(endSeq: number): number {
    return Math.max(0, endSeq - this.base - this.unique);
  }

  /** Events skipped: a later one arrived, they never did. */
  get gaps(): number {
    return (this.missing?.length ?? 0) + this.overflow;
  }

  private addMissing(from: number, to: number): void {
    this.missing ??= [];
    for (let s = from; s <= to; s++) {
      if (this.missing.length < MAX_MISSING) this.missing.push(s);
      else this.overflow += 1;
    }
  }

  private takeMissing(seq: number): boolean {
    const at = this.missing!.indexOf(seq);
    if (at < 0) return false;
    this.missing!.splice(at, 1);
    return true;
  }
}
