import type { Kysely } from 'kysely';
import type { Config } from '../../shared/config.js';
import type { Database } from '../../shared/db/database.js';
import { ApiKeyLookup } from './api-key-lookup.js';
import type { Credentials } from './credentials.js';
import { JobOwners } from './job-owners.js';
import { WatchTokens, type WatchClaims } from './watch-tokens.js';

/** Who is asking, once credentials have been checked. */
export type Principal =
  /** Auth is off: everybody may do everything (the seed's behaviour). */
  | { kind: 'open' }
  | { kind: 'watch-token'; jobId: number; ownerKeyId: number }
  | { kind: 'api-key'; keyId: number };

/**
 * The answer for a request to read one job. `not-found` is exactly what a job that does not
 * exist gets: whoever holds the wrong job's token or another owner's key learns nothing.
 */
export type ReadDecision = { ok: true; principal: Principal } | { ok: false; kind: 'unauthorized'; message: string } | { ok: false; kind: 'not-found' };

export type WriteDecision = { ok: true; principal: Principal; ownerKeyId: number } | { ok: false; kind: 'unauthorized'; message: string };

const UNAUTHORIZED = (message: string) => ({ ok: false, kind: 'unauthorized', message }) as const;
const NOT_FOUND = { ok: false, kind: 'not-found' } as const;
const OPEN: ReadDecision = { ok: true, principal: { kind: 'open' } };

/** A JWT has three dot-separated parts; an API key has none. */
const looksLikeJwt = (text: string) => text.split('.').length === 3;

/**
 * The one place where credentials become a principal, before a socket joins anything or a
 * request touches a job (the role of Centrifuge's OnConnecting / uWS's UpgradeAsync pattern).
 *
 * A watch token is checked in-process (signature, expiry, job claim): no database or Redis round
 * trip, and a token seen before is answered synchronously, so the upgrade handler need not go
 * async at all. An API key on a read costs a Postgres lookup at most once a second per key, plus
 * one owner lookup per job (owners never change).
 */
export class AuthHook {
  readonly enabled: boolean;
  readonly tokens: WatchTokens | null;
  private readonly keys: ApiKeyLookup;
  private readonly owners: JobOwners;

  constructor(config: Config, db: Kysely<Database>) {
    this.enabled = config.auth.enabled;
    const secret = config.auth.watchTokenSecret;
    this.tokens = secret ? new WatchTokens(secret, config.auth.watchTokenTtlSeconds) : null;
    this.keys = new ApiKeyLookup(db);
    this.owners = new JobOwners(db);
  }

  /** May a request with these credentials read job `jobId`? Synchronous when it can be. */
  authorizeJobRead(credentials: Credentials, jobId: number): ReadDecision | Promise<ReadDecision> {
    if (!this.enabled) return OPEN;
    const token = credentials.token ?? (credentials.bearer && looksLikeJwt(credentials.bearer) ? credentials.bearer : null);
    if (token !== null) {
      const cached = this.tokens?.cached(token);
      if (cached) return this.tokenDecision(cached, jobId);
      return this.verifyToken(token, jobId);
    }
    if (credentials.bearer === null) return UNAUTHORIZED('send a watch token (?token=…) or an API key (Authorization: Bearer …)');
    return this.keyRead(credentials.bearer, jobId);
  }

  /** Who may write (enqueue, mint tokens): an active API key, checked against Postgres every time. */
  async authenticateWriter(credentials: Credentials): Promise<WriteDecision> {
    if (!this.enabled) return { ok: true, principal: { kind: 'open' }, ownerKeyId: 0 };
    if (credentials.bearer === null) return UNAUTHORIZED('send an API key: Authorization: Bearer <key> (npm run keys -- create <name>)');
    const keyId = await this.keys.forWrite(credentials.bearer);
    if (keyId === null) return UNAUTHORIZED('the API key is unknown or revoked');
    return { ok: true, principal: { kind: 'api-key', keyId }, ownerKeyId: keyId };
  }

  /** May the owner of `principal` (a key) act on job `jobId`, e.g. mint a token for it? */
  async ownsJob(keyId: number, jobId: number): Promise<boolean> {
    const owner = await this.owners.ownerOf(jobId);
    return owner !== undefined && owner !== null && owner === keyId;
  }

  private async verifyToken(token: string, jobId: number): Promise<ReadDecision> {
    const claims = this.tokens ? await this.tokens.verify(token) : null;
    if (!claims) return UNAUTHORIZED('the watch token is invalid or expired; ask for a new one (POST /api/jobs/{id}/watch-tokens)');
    return this.tokenDecision(claims, jobId);
  }

  private tokenDecision(claims: WatchClaims, jobId: number): ReadDecision {
    if (claims.jobId !== jobId) return NOT_FOUND;
    // One decision per verified token, shared by all its upgrades: nothing allocated per connect.
    const kept = claims.decision as ReadDecision | undefined;
    if (kept) return kept;
    const decision: ReadDecision = { ok: true, principal: { kind: 'watch-token', jobId, ownerKeyId: claims.ownerKeyId } };
    claims.decision = decision;
    return decision;
  }

  private async keyRead(key: string, jobId: number): Promise<ReadDecision> {
    const keyId = await this.keys.forRead(key);
    if (keyId === null) return UNAUTHORIZED('the API key is unknown or revoked');
    if (!(await this.ownsJob(keyId, jobId))) return NOT_FOUND;
    return { ok: true, principal: { kind: 'api-key', keyId } };
  }
}

/** Who a principal's budgets (replay bytes) are charged to: its owning key, or its address. */
export function budgetHolder(principal: Principal, ip: string): string {
  if (principal.kind === 'api-key') return `key:${principal.keyId}`;
  if (principal.kind === 'watch-token' && principal.ownerKeyId > 0) return `key:${principal.ownerKeyId}`;
  return `ip:${ip}`;
}
