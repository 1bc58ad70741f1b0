import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The check of operator endpoints (/ws/stats): `Authorization: Bearer <ADMIN_TOKEN>` when an
 * ADMIN_TOKEN is configured, open otherwise. Compared in constant time (over digests, so the
 * lengths match too).
 */
export function adminCheck(adminToken: string | null): (authorization: string) => boolean {
  if (adminToken === null) return () => true;
  const expected = createHash('sha256').update(`Bearer ${adminToken}`).digest();
  return (authorization) => timingSafeEqual(createHash('sha256').update(authorization).digest(), expected);
}
