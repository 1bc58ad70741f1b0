import { createHash, randomBytes } from 'node:crypto';

/** `scout_` and 32 random bytes in base64url: the prefix makes a leaked key easy to grep for. */
const KEY_PATTERN = /^scout_[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): string {
  return `scout_${randomBytes(32).toString('base64url')}`;
}

/** Whether a string has the shape of a key: anything else is refused without a lookup. */
export function looksLikeApiKey(text: string): boolean {
  return KEY_PATTERN.test(text);
}

/**
 * The stored form of a key. A key is 256 random bits, so no guessing attack needs a slow hash
 * (bcrypt/scrypt protect low-entropy passwords); SHA-256 keeps the lookup an index probe.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The first characters of a key, shown by `keys list` to tell keys apart. */
export function apiKeyPrefix(key: string): string {
  return key.slice(0, 10);
}
