import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';

/** Who a key acts for: one DID, as an agent (its own actions) or an operator (control commands). */
export type ApiKeyRole = 'agent' | 'operator';

export interface ApiKeyRecord {
  keyId: string;
  agentDid: string;
  role: ApiKeyRole;
  label: string;
  createdAtMs: number;
  revokedAtMs: number | null;
}

/** Every API key starts with this, so a bearer token is told apart from a JWT without parsing it. */
export const API_KEY_PREFIX = 'hvk_';

/** The stored form of a key: its SHA-256, hex. A key has 256 random bits, so no salt or slow hash is needed. */
export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

type Row = {
  key_id: string;
  agent_did: string;
  role: ApiKeyRole;
  label: string;
  created_at: Date;
  revoked_at: Date | null;
};
const toRecord = (r: Row): ApiKeyRecord => ({
  keyId: r.key_id,
  agentDid: r.agent_did,
  role: r.role,
  label: r.label,
  createdAtMs: r.created_at.getTime(),
  revokedAtMs: r.revoked_at?.getTime() ?? null,
});

/** Creates a key for `agentDid` and returns it with its secret, which is not stored and cannot be shown again. */
export async function createApiKey(
  db: Queryable,
  input: { agentDid: string; role: ApiKeyRole; label?: string },
): Promise<ApiKeyRecord & { key: string }> {
  const keyId = `ak_${randomBytes(6).toString('hex')}`;
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query<Row>(
    `INSERT INTO api_keys (key_id, key_hash, agent_did, role, label) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [keyId, hashApiKey(key), input.agentDid, input.role, input.label ?? ''],
  );
  return { ...toRecord(rows[0]!), key };
}

/** The live (not revoked) key whose secret is `key`, or null. */
export async function findApiKey(db: Queryable, key: string): Promise<ApiKeyRecord | null> {
  const { rows } = await db.query<Row>('SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL', [
    hashApiKey(key),
  ]);
  return rows[0] ? toRecord(rows[0]) : null;
}

/** Keys, newest first, optionally of one DID; revoked ones included (they say when). */
export async function listApiKeys(db: Queryable, filter: { agentDid?: string } = {}): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<Row>(
    `SELECT * FROM api_keys WHERE ($1::text IS NULL OR agent_did = $1) ORDER BY created_at DESC, key_id`,
    [filter.agentDid ?? null],
  );
  return rows.map(toRecord);
}

/** Revokes a key (at once: every request looks its key up). False when no live key has that id. */
export async function revokeApiKey(db: Queryable, keyId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL',
    [keyId],
  );
  return (rowCount ?? 0) > 0;
}

/** Revokes every live key with `label` (what `npm run dev` does before printing fresh dev keys). */
export async function revokeApiKeysLabelled(db: Queryable, label: string): Promise<number> {
  const { rowCount } = await db.query(
    'UPDATE api_keys SET revoked_at = now() WHERE label = $1 AND revoked_at IS NULL',
    [label],
  );
  return rowCount ?? 0;
}
