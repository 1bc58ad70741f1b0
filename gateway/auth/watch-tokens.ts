import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { jobIdSchema } from '../../shared/events.js';

/** What a watch token says: this job, created by this key. */
export interface WatchClaims {
  jobId: number;
  /** The API key that owns the job; 0 for a job created while auth was off. */
  ownerKeyId: number;
  /** When the token stops being accepted (ms since the epoch). */
  expiresAtMs: number;
  /** The auth hook's answer for this token, kept with it (it never changes while the token lives). */
  decision?: unknown;
}

const claimsSchema = z.object({
  job: jobIdSchema,
  own: z.number().int().nonnegative(),
  exp: z.number().int().positive(),
});

/** Verified tokens kept so that a reconnect storm on one job verifies its token once. */
const CACHE_MAX = 20_000;

/**
 * Short-lived HS256 JWTs (jose) that let their bearer watch one job. Verified in-process: an
 * upgrade carrying one costs no database or Redis round trip. A token that verified once is
 * remembered until it expires (a Map keyed by the token string, bounded), so the common case — a
 * client reconnecting, many tabs of one job — is a lookup, answered without awaiting anything.
 */
export class WatchTokens {
  private readonly key: Uint8Array;
  private readonly verified = new Map<string, WatchClaims>();
  /** Verifications under way: the clients of a job connecting at once share one. */
  private readonly verifying = new Map<string, Promise<WatchClaims | null>>();

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async sign(jobId: number, ownerKeyId: number): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.ttlSeconds * 1000);
    const token = await new SignJWT({ job: jobId, own: ownerKeyId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key);
    return { token, expiresAt };
  }

  /** The claims of a token already verified and not yet expired, or undefined: no work at all. */
  cached(token: string): WatchClaims | undefined {
    const claims = this.verified.get(token);
    if (claims && claims.expiresAtMs <= Date.now()) {
      this.verified.delete(token);
      return undefined;
    }
    return claims;
  }

  /** The claims of a valid token, or null for anything else (bad signature, expired, malformed). */
  verify(token: string): Promise<WatchClaims | null> {
    const hit = this.cached(token);
    if (hit) return Promise.resolve(hit);
    if (token.length > 1024) return Promise.resolve(null);
    let pending = this.verifying.get(token);
    if (!pending) {
      pending = this.verifyOnce(token).finally(() => this.verifying.delete(token));
      this.verifying.set(token, pending);
    }
    return pending;
  }

  private async verifyOnce(token: string): Promise<WatchClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      const parsed = claimsSchema.safeParse(payload);
      if (!parsed.success) return null;
      const claims: WatchClaims = { jobId: parsed.data.job, ownerKeyId: parsed.data.own, expiresAtMs: parsed.data.exp * 1000 };
      if (this.verified.size >= CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
      return claims;
    } catch (error) {
      if (error instanceof errors.JOSEError) return null;
      throw error;
    }
  }
}
