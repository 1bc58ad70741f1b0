import type { Kysely } from 'kysely';
import { hashApiKey, looksLikeApiKey } from '../../shared/auth/api-key.js';
import { findActiveApiKey } from '../../shared/db/api-keys.repository.js';
import type { Database } from '../../shared/db/database.js';

/** How long a read (an upgrade, a status poll) may trust an earlier answer: a revoked key is refused within this. */
const READ_CACHE_MS = 1000;
const CACHE_MAX = 10_000;

/**
 * API key → key id, or null for an unknown, revoked or malformed key. Writes ask Postgres every
 * time (they are few, and a revocation must stop them at once); reads may reuse an answer for up
 * to a second, which bounds how late any gateway sees a revocation.
 */
export class ApiKeyLookup {
  private readonly recent = new Map<string, { keyId: number | null; at: number }>();

  constructor(private readonly db: Kysely<Database>) {}

  async forWrite(key: string): Promise<number | null> {
    if (!looksLikeApiKey(key)) return null;
    const row = await findActiveApiKey(this.db, hashApiKey(key));
    return row?.id ?? null;
  }

  async forRead(key: string): Promise<number | null> {
    if (!looksLikeApiKey(key)) return null;
    const hash = hashApiKey(key);
    const hit = this.recent.get(hash);
    if (hit && Date.now() - hit.at < READ_CACHE_MS) return hit.keyId;
    const keyId = (await findActiveApiKey(this.db, hash))?.id ?? null;
    if (this.recent.size >= CACHE_MAX) this.recent.clear();
    this.recent.set(hash, { keyId, at: Date.now() });
    return keyId;
  }
}
