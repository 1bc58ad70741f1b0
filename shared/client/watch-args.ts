import { parseArgs } from 'node:util';
import { z } from 'zod';
import { jobIdSchema } from '../events.js';

export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:8000';

export const USAGE = `Usage: scout-watch <job_id> [--url URL] [--token TOKEN | --api-key KEY]
       scout-watch <job_id> <job_id> … [--url URL] [--api-key KEY]

Follows a flight-scraping job live, from its first event: one line per event and, on a
terminal, a progress bar.
Reconnects by itself and resumes where it left off if the connection drops
(it gives up after 15 failed attempts in a row, a minute or two). When no
gateway answers at the URL at all, it says so within seconds.
Several job ids share one connection and get one progress line each.

Options:
  --url URL        the gateway (default: $SCOUT_URL, else ${DEFAULT_GATEWAY_URL})
  --token TOKEN    the job's watch token, from the 202 of POST /api/jobs (default: $SCOUT_TOKEN)
  --api-key KEY    the owner's API key instead: a fresh watch token is fetched for every
                   connection (default: $SCOUT_API_KEY)
  -h, --help       show this help

Exit status:
  0    the job completed
  1    the job failed, or there is no such job
  2    bad usage (arguments)
  3    the connection was lost for good (15 reconnects failed) or the gateway
       refused the stream
  4    no gateway at the URL (nothing answered the first connection)
  130  interrupted (Ctrl-C)
`;

const watchArgsSchema = z.object({
  jobId: z
    .string({ error: 'name the job to watch: scout-watch <job_id>' })
    .regex(/^(?=\d*[1-9])\d+$/, 'the job id must be a positive whole number')
    .transform(Number)
    .pipe(jobIdSchema),
  url: z.url({ protocol: /^(https?|wss?)$/, error: 'the gateway URL must be http(s):// or ws(s)://, e.g. http://localhost:8000' }),
  // --- Access control ---
  token: z.string().regex(/^[A-Za-z0-9_.-]{1,1024}$/, 'the watch token is malformed').optional(),
  apiKey: z.string().regex(/^[!-~]{1,1024}$/, 'the API key is malformed').optional(),
});
export type WatchArgs = z.infer<typeof watchArgsSchema> & { /** Every job named, when more than one (the first is jobId). */ jobIds?: number[] };

export type ParsedWatchArgs = { kind: 'run'; args: WatchArgs } | { kind: 'help' } | { kind: 'usage-error'; message: string };

/** Credentials from the environment: $SCOUT_TOKEN and $SCOUT_API_KEY. */
export interface WatchEnvCredentials {
  token?: string | undefined;
  apiKey?: string | undefined;
}

/** Command line (without node and script) → what to do. `envUrl` is $SCOUT_URL. */
export function parseWatchArgs(argv: readonly string[], envUrl: string | undefined, envCredentials: WatchEnvCredentials = {}): ParsedWatchArgs {
  let values: { url?: string; help?: boolean; token?: string; 'api-key'?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: { url: { type: 'string' }, help: { type: 'boolean', short: 'h' }, token: { type: 'string' }, 'api-key': { type: 'string' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    return { kind: 'usage-error', message: (error as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const url = values.url ?? (envUrl || DEFAULT_GATEWAY_URL);
  const token = values.token ?? (values['api-key'] ? undefined : envCredentials.token || undefined);
  const apiKey = values['api-key'] ?? (values.token ? undefined : envCredentials.apiKey || undefined);
  const jobIds: number[] = [];
  let args: z.infer<typeof watchArgsSchema> | null = null;
  for (const jobId of positionals.length > 0 ? positionals : [undefined]) {
    const parsed = watchArgsSchema.safeParse({ jobId, url, token, apiKey });
    if (!parsed.success) return { kind: 'usage-error', message: parsed.error.issues.map((i) => i.message).join('; ') };
    args ??= parsed.data;
    if (!jobIds.includes(parsed.data.jobId)) jobIds.push(parsed.data.jobId);
  }
  return { kind: 'run', args: { ...args!, ...(jobIds.length > 1 ? { jobIds } : {}) } };
}
