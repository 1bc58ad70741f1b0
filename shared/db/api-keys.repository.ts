import { sql, type Kysely } from 'kysely';
import { apiKeyPrefix, generateApiKey, hashApiKey } from '../auth/api-key.js';
import type { ApiKey } from './api-keys.table.js';
import type { Database } from './database.js';

export class ApiKeyNameTakenError extends Error {
  readonly code = 'KEY_NAME_TAKEN';
  constructor(readonly keyName: string) {
    super(`a key named "${keyName}" already exists`);
  }
}

/** Creates a key; the returned `key` is the only time it exists outside its holder. */
export async function createApiKey(db: Kysely<Database>, name: string): Promise<{ key: string; row: ApiKey }> {
  const key = generateApiKey();
  try {
    const row = await db
      .insertInto('api_keys')
      .values({ name, key_hash: hashApiKey(key), key_prefix: apiKeyPrefix(key) })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { key, row };
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new ApiKeyNameTakenError(name);
    throw error;
  }
}

export async function listApiKeys(db: Kysely<Database>): Promise<ApiKey[]> {
  return db.selectFrom('api_keys').selectAll().orderBy('id').execute();
}

/** Revokes a key by name; false when no active key has that name. */
export async function revokeApiKey(db: Kysely<Database>, name: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`now()` })
    .where('name', '=', name)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** The active (not revoked) key with this hash. */
export async function findActiveApiKey(db: Kysely<Database>, keyHash: string): Promise<{ id: number; name: string } | undefined> {
  return db
    .selectFrom('api_keys')
    .select(['id', 'name'])
    .where('key_hash', '=', keyHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}
