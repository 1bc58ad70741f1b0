const FULL = '█';
const EMPTY = '░';
/** Eighths of a cell, so a bar of 30 cells still moves at every 0.4 %. */
const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A text progress bar with its percentage, e.g. `███████▌░░░░░░░░░░░░  37.5 %`.
 * `null` (a job that reported no progress yet) draws an empty bar with `  -- %`.
 */
export function renderProgressBar(percent: number | null, width = 30): string {
  const value = percent === null || !Number.isFinite(percent) ? null : Math.min(100, Math.max(0, percent));
  const eighths = value === null ? 0 : Math.floor((value / 100) * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = PARTIAL[eighths % 8] ?? '';
  const bar = FULL.repeat(full) + partial + EMPTY.repeat(width - full - (partial ? 1 : 0));
  const label = value === null ? '  --' : value.toFixed(1).padStart(5);
  return `${bar} ${label} %`;
}
