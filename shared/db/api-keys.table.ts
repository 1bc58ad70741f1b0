import type { ColumnType, Generated, Selectable } from 'kysely';

export interface ApiKeysTable {
  id: Generated<number>;
  name: string;
  /** Hex SHA-256 of the key: the key itself is shown once, at creation, and never stored. */
  key_hash: string;
  key_prefix: string;
  created_at: ColumnType<Date, never, never>;
  revoked_at: Date | null;
}

export type ApiKey = Selectable<ApiKeysTable>;

export interface IdempotencyKeysTable {
  /** 0 when the job was created without a key (auth off). */
  owner_key_id: number;
  idempotency_key: string;
  /** Hex SHA-256 of the request body: the same key with another body is refused. */
  body_hash: string;
  job_id: number;
  created_at: ColumnType<Date, never, never>;
}
