import type { OperatorDirectory, OperatorEntry, OperatorRole } from '../domain/operators.js';
import type { Queryable } from './db.js';

/**
 * The registry's directory as mirrored in Postgres (one row per key), grouped by operator. This is the trusted store
 * session and identity workflows load their copy from: only workers write it (the registry workflow's activity).
 */
export async function readOperatorDirectory(db: Queryable): Promise<OperatorDirectory> {
  const { rows } = await db.query<{
    kid: string;
    operator_did: string;
    role: OperatorRole;
    public_key: string;
    added_at_ms: string;
    revoked_at_ms: string | null;
  }>('SELECT * FROM operator_keys ORDER BY operator_did, added_at_ms, kid');
  const byDid = new Map<string, OperatorEntry>();
  for (const r of rows) {
    const op = byDid.get(r.operator_did) ?? { did: r.operator_did, role: r.role, keys: [] };
    if (r.role === 'admin') op.role = 'admin';
    op.keys.push({
      kid: r.kid,
      publicKey: r.public_key,
      addedAtMs: Number(r.added_at_ms),
      revokedAtMs: r.revoked_at_ms === null ? null : Number(r.revoked_at_ms),
    });
    byDid.set(r.operator_did, op);
  }
  return { operators: [...byDid.values()] };
}

/**
 * Mirrors a directory: every key upserted, a revocation kept once set (a stale mirror write never un-revokes a key),
 * the role following the registry. Rows are never deleted: a key the registry forgot stays as it was.
 */
export async function writeOperatorDirectory(db: Queryable, directory: OperatorDirectory): Promise<void> {
  for (const op of directory.operators)
    for (const key of op.keys)
      await db.query(
        `INSERT INTO operator_keys (kid, operator_did, role, public_key, added_at_ms, revoked_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (kid) DO UPDATE SET role = EXCLUDED.role,
           revoked_at_ms = COALESCE(operator_keys.revoked_at_ms, EXCLUDED.revoked_at_ms)`,
        [key.kid, op.did, op.role, key.publicKey, key.addedAtMs, key.revokedAtMs],
      );
}
