/** Where a stream picks up again: the last seq it holds and the epoch that seq belongs to. */
export interface ResumePoint {
  lastSeq: number;
  /** null when the stream has not told us its epoch yet (a job with no events, or an old one). */
  epoch: string | null;
}

/**
 * The URL of WS /ws/scraping/{job_id} on a gateway given as http(s):// or ws(s):// (a path prefix,
 * as behind a proxy, is kept). With a resume point, the gateway sends what came after it.
 */
export function streamUrl(baseUrl: string, jobId: number, resume: ResumePoint | null, token: string | null = null): string {
  const url = new URL(baseUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError(`gateway URL must be http(s):// or ws(s)://, got ${baseUrl}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws/scraping/${jobId}`;
  url.search = '';
  url.hash = '';
  if (resume) {
    url.searchParams.set('last_seq', String(resume.lastSeq));
    if (resume.epoch !== null) url.searchParams.set('epoch', resume.epoch);
  }
  // A watch token (access control on): the gateway accepts it as ?token=… on the upgrade.
  if (token !== null) url.searchParams.set('token', token);
  return url.toString();
}
