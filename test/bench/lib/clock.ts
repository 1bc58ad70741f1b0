/**
 * Microseconds on the host's monotonic clock (CLOCK_MONOTONIC, the clock behind
 * process.hrtime), comparable across processes of one machine. performance.now() reads the same
 * clock from a per-process origin; the offset is fixed once, so each read costs no allocation.
 * The offset is taken from the tightest of many paired reads: a process descheduled between the
 * two reads of one pair (common on a loaded machine) would otherwise be off by that pause.
 */
function measureOffset(): number {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 200; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint()) / 1000;
    const after = performance.now();
    const span = after - before;
    if (span < best) {
      best = span;
      offset = hr - ((before + after) / 2) * 1000;
    }
  }
  return offset;
}

const offsetUs = measureOffset();

export function monoUs(): number {
  return performance.now() * 1000 + offsetUs;
}
