/**
 * A log-linear latency histogram in microseconds: 16 buckets per power of two (about 4 %
 * resolution), fixed size, mergeable across processes by adding counts.
 */
const SUB = 16;
const MAX_EXP = 40;
export const HISTOGRAM_SIZE = (MAX_EXP + 1) * SUB + 1;

export class Histogram {
  counts: number[];
  total = 0;
  max = 0;
  sum = 0;

  constructor(counts?: number[]) {
    this.counts = counts ?? new Array<number>(HISTOGRAM_SIZE).fill(0);
  }

  add(valueUs: number): void {
    const v = valueUs < 0 ? 0 : valueUs;
    this.counts[indexOf(v)]! += 1;
    this.total += 1;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(other: HistogramData): void {
    for (let i = 0; i < HISTOGRAM_SIZE; i++) this.counts[i]! += other.counts[i] ?? 0;
    this.total += other.total;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** The value at quantile q (0..1): the upper edge of its bucket, never above the true max. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }

  toJSON(): HistogramData {
    return { counts: this.counts, total: this.total, max: this.max, sum: this.sum };
  }
}

export interface HistogramData {
  counts: number[];
  total: number;
  max: number;
  sum: number;
}

function indexOf(v: number): number {
  if (v < 1) return 0;
  const exp = Math.min(MAX_EXP, Math.floor(Math.log2(v)));
  const sub = Math.min(SUB - 1, Math.floor((v / 2 ** exp - 1) * SUB));
  return 1 + exp * SUB + sub;
}

function upperEdge(index: number): number {
  if (index === 0) return 1;
  const exp = Math.floor((index - 1) / SUB);
  const sub = (index - 1) % SUB;
  return 2 ** exp * (1 + (sub + 1) / SUB);
}
