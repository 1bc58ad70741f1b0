import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { httpJson } from './ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The watch-token secret of gateways under test with access control on (48 bytes). */
export const TEST_WATCH_TOKEN_SECRET = 'test-only-watch-token-secret-0123456789abcdefgh';

/** The environment that turns access control on (serviceEnv turns it off by default). */
export const AUTH_ON: Record<string, string> = { AUTH_ENABLED: 'true', WATCH_TOKEN_SECRET: TEST_WATCH_TOKEN_SECRET };

/** A valid POST /api/jobs body. */
export const JOB_BODY = { origins: ['MUC'], destinations: ['BCN'], date_ranges: [['2027-03-01', '2027-03-08']], scrapers: ['sim-kiwi'] };

/** Runs the keys CLI (`npm run keys -- …`) against a database; resolves with its output lines and exit code. */
export function keysCli(databaseUrl: string, args: string[]): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/db/keys-cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, lines: out.trimEnd().split('\n'), stderr: err })));
}

/** Creates a key with the CLI and returns it (the last line of `create`). */
export async function createKey(databaseUrl: string, name: string): Promise<string> {
  const { code, lines, stderr } = await keysCli(databaseUrl, ['create', name]);
  if (code !== 0) throw new Error(`keys create ${name} failed (${code}): ${stderr}`);
  return lines.at(-1)!;
}

/** POST /api/jobs with a key (or none) and extra headers. */
export function postJob(base: string, key: string | null, body: unknown = JOB_BODY, headers: Record<string, string> = {}) {
  return httpJson(`${base}/api/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A token signed with the test secret but with chosen claims (expired, another owner …). */
export function forgeToken(claims: { job: number; own: number; exp: number }, secret = TEST_WATCH_TOKEN_SECRET): Promise<string> {
  return new SignJWT({ job: claims.job, own: claims.own }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(claims.exp).sign(new TextEncoder().encode(secret));
}
