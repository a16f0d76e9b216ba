import { canonicalJson, type ChainedEntry, type CommitmentStatement } from '../domain/audit-chain.js';
import type { StoredEntry } from '../domain/audit-verify.js';
import { ErrorType, hvError } from '../domain/errors.js';
import { withTransaction, type Pool, type Queryable } from './db.js';

/** The commitment row of a session, as stored: the signed statement plus where it came from and its signature. */
export interface StoredCommitment extends Omit<CommitmentStatement, 'format'> {
  reason: string;
  workflowId: string;
  runId: string;
  keyId: string | null;
  signature: string | null;
}

/**
 * Inserts a batch of links in one statement. `ON CONFLICT DO NOTHING` makes a retried batch harmless; a row already at
 * a position with a different hash means two writers disagree about the chain, which is `ChainBroken` and never
 * retried (the transaction rolls back, so nothing of the batch is written).
 */
export async function insertAuditBatch(
  pool: Pool,
  sessionId: string,
  batch: readonly ChainedEntry[],
): Promise<{ inserted: number; duplicates: number }> {
  if (batch.length === 0) return { inserted: 0, duplicates: 0 };
  return withTransaction(pool, async (tx) => {
    const cols = {
      seq: [] as number[],
      format: [] as string[],
      kind: [] as string[],
      agentDid: [] as (string | null)[],
      payloadHash: [] as string[],
      payload: [] as string[],
      recordedAtMs: [] as number[],
      recordedAt: [] as string[],
      workflowId: [] as string[],
      runId: [] as string[],
      prevHash: [] as string[],
      hash: [] as string[],
    };
    for (const { entry, payload, prevHash, hash } of batch) {
      cols.seq.push(entry.seq);
      cols.format.push(entry.format);
      cols.kind.push(entry.kind);
      cols.agentDid.push(entry.agentDid);
      cols.payloadHash.push(entry.payloadHash);
      cols.payload.push(canonicalJson(payload));
      cols.recordedAtMs.push(entry.recordedAtMs);
      cols.recordedAt.push(new Date(entry.recordedAtMs).toISOString());
      cols.workflowId.push(entry.workflowId);
      cols.runId.push(entry.runId);
      cols.prevHash.push(prevHash);
      cols.hash.push(hash);
    }
    const inserted = await tx.query<{ seq: string }>(
      `INSERT INTO audit_entries (session_id, seq, format, kind, agent_did, payload_hash, payload, recorded_at_ms,
                                  recorded_at, workflow_id, run_id, prev_hash, hash)
       SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::bigint[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])
       ON CONFLICT (session_id, seq) DO NOTHING
       RETURNING seq`,
      [
        sessionId,
        cols.seq,
        cols.format,
        cols.kind,
        cols.agentDid,
        cols.payloadHash,
        cols.payload,
        cols.recordedAtMs,
        cols.recordedAt,
        cols.workflowId,
        cols.runId,
        cols.prevHash,
        cols.hash,
      ],
    );
    const written = new Set(inserted.rows.map((row) => Number(row.seq)));
    const existing = batch.filter((link) => !written.has(link.entry.seq));
    if (existing.length > 0) {
      const stored = await tx.query<{ seq: string; hash: string }>(
        `SELECT seq, hash FROM audit_entries WHERE session_id = $1 AND seq = ANY($2::bigint[])`,
        [sessionId, existing.map((link) => link.entry.seq)],
      );
      const storedHash = new Map(stored.rows.map((row) => [Number(row.seq), row.hash]));
      for (const link of existing) {
        const found = storedHash.get(link.entry.seq);
        if (found !== link.hash)
          throw hvError(
            ErrorType.ChainBroken,
            `audit chain of session ${sessionId} already holds a different entry ${link.entry.seq}`,
            { sessionId, seq: link.entry.seq, storedHash: found ?? null, hash: link.hash },
          );
      }
    }
    return { inserted: written.size, duplicates: existing.length };
  });
}

interface EntryRow {
  seq: string;
  format: string;
  kind: string;
  agent_did: string | null;
  payload_hash: string;
  payload: string | null;
  recorded_at_ms: string;
  workflow_id: string;
  run_id: string;
  prev_hash: string;
  hash: string;
}

const toStored = (row: EntryRow): StoredEntry => ({
  seq: Number(row.seq),
  format: row.format,
  kind: row.kind,
  agentDid: row.agent_did,
  payloadHash: row.payload_hash,
  payload: row.payload,
  recordedAtMs: Number(row.recorded_at_ms),
  workflowId: row.workflow_id,
  runId: row.run_id,
  prevHash: row.prev_hash,
  hash: row.hash,
});

/**
 * Streams a session's rows in seq order, one page at a time (keyset pagination on the primary key), so a chain of any
 * length is verified or exported in constant memory.
 */
export async function* streamAuditEntries(
  pool: Pool,
  sessionId: string,
  options: { pageSize?: number; afterSeq?: number } = {},
): AsyncGenerator<StoredEntry> {
  const pageSize = options.pageSize ?? 2000;
  let after = options.afterSeq ?? 0;
  for (;;) {
    const { rows } = await pool.query<EntryRow>(
      `SELECT seq, format, kind, agent_did, payload_hash, payload, recorded_at_ms, workflow_id, run_id, prev_hash, hash
         FROM audit_entries WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [sessionId, after, pageSize],
    );
    for (const row of rows) yield toStored(row);
    if (rows.length < pageSize) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

/** Stores a session's commitment once. A second, different commitment for the same session is `ChainBroken`. */
export async function insertCommitment(pool: Pool, c: StoredCommitment): Promise<void> {
  await withTransaction(pool, async (tx) => {
    await tx.query(
      `INSERT INTO session_commitments (session_id, root, entry_count, participants, kill_switch_triggered,
                                        terminated_at_ms, reason, workflow_id, run_id, key_id, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (session_id) DO NOTHING`,
      [
        c.sessionId,
        c.root,
        c.entryCount,
        JSON.stringify(c.participants),
        c.killSwitchTriggered,
        c.terminatedAtMs,
        c.reason,
        c.workflowId,
        c.runId,
        c.keyId,
        c.signature,
      ],
    );
    const stored = await readCommitment(tx, c.sessionId);
    if (!stored || stored.root !== c.root || stored.entryCount !== c.entryCount)
      throw hvError(ErrorType.ChainBroken, `session ${c.sessionId} already has a different commitment`, {
        sessionId: c.sessionId,
        storedRoot: stored?.root ?? null,
        root: c.root,
      });
  });
}

/** A session's stored commitment, or null before it has ended. */
export async function readCommitment(db: Queryable, sessionId: string): Promise<StoredCommitment | null> {
  const { rows } = await db.query<{
    session_id: string;
    root: string;
    entry_count: string;
    participants: string[];
    kill_switch_triggered: boolean;
    terminated_at_ms: string;
    reason: string;
    workflow_id: string;
    run_id: string;
    key_id: string | null;
    signature: string | null;
  }>(`SELECT * FROM session_commitments WHERE session_id = $1`, [sessionId]);
  const row = rows[0];
  if (!row) return null;
  return {
    sessionId: row.session_id,
    root: row.root,
    entryCount: Number(row.entry_count),
    participants: row.participants,
    killSwitchTriggered: row.kill_switch_triggered,
    terminatedAtMs: Number(row.terminated_at_ms),
    reason: row.reason,
    workflowId: row.workflow_id,
    runId: row.run_id,
    keyId: row.key_id,
    signature: row.signature,
  };
}

/**
 * Retention (docs/DESIGN.md §5.6): drops payloads recorded before `cutoffMs`, keeping every hash, so chains still
 * verify. Works in bounded batches so a large purge never holds long locks; returns how many payloads were dropped.
 */
export async function purgePayloadsBefore(pool: Pool, cutoffMs: number, batchSize = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      `UPDATE audit_entries SET payload = NULL, payload_purged_at = now()
        WHERE (session_id, seq) IN (
          SELECT session_id, seq FROM audit_entries
           WHERE payload IS NOT NULL AND recorded_at < $1
           LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [new Date(cutoffMs).toISOString(), batchSize],
    );
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) return total;
  }
}

/** True when the store holds any row for the session (to tell "no such session" from "empty chain"). */
export async function auditSessionKnown(pool: Pool, sessionId: string): Promise<boolean> {
  const { rows } = await pool.query(
    `SELECT 1 FROM audit_entries WHERE session_id = $1 UNION ALL SELECT 1 FROM session_commitments WHERE session_id = $1 LIMIT 1`,
    [sessionId],
  );
  return rows.length > 0;
}
