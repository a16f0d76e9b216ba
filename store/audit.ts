import {
  canonicalJson,
  GENESIS_HASH,
  type ChainHead,
  type ChainedEntry,
  type CommitmentStatement,
} from '../domain/audit-chain.js';
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
 * A batch that disagrees with the stored chain at `seq`. Nothing of the batch was written. `writers` are the distinct
 * (workflow id, run id) pairs of every stored row from `seq` on, so the caller can tell the abandoned branch of a
 * Temporal reset (another run of the same session) from two writers that disagree (docs/DESIGN.md §5.7).
 */
export interface StoredConflict {
  seq: number;
  storedHash: string;
  hash: string;
  head: ChainHead;
  writers: Array<{ workflowId: string; runId: string }>;
}

export type AuditBatchOutcome = { inserted: number; duplicates: number } | { conflict: StoredConflict };

/** Thrown inside the transaction to roll it back, and turned into the conflict outcome outside it. */
class ConflictFound {
  constructor(readonly conflict: StoredConflict) {}
}

/**
 * Inserts a batch of links in one statement. `ON CONFLICT DO NOTHING` makes a retried batch harmless; a row already at
 * a position with a different hash means the stored chain and the batch disagree: the transaction rolls back, so
 * nothing of the batch is written, and the outcome describes the stored chain from that position on (its head and
 * its writers) for the caller to judge.
 */
export async function insertAuditBatch(
  pool: Pool,
  sessionId: string,
  batch: readonly ChainedEntry[],
): Promise<AuditBatchOutcome> {
  if (batch.length === 0) return { inserted: 0, duplicates: 0 };
  try {
    return await withTransaction(pool, (tx) => insertLinks(tx, sessionId, batch));
  } catch (err) {
    if (err instanceof ConflictFound) return { conflict: err.conflict };
    throw err;
  }
}

async function insertLinks(
  tx: Queryable,
  sessionId: string,
  batch: readonly ChainedEntry[],
): Promise<{ inserted: number; duplicates: number }> {
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
  for (const { entry, payload, prevHash, hash, runId } of batch) {
    cols.seq.push(entry.seq);
    cols.format.push(entry.format);
    cols.kind.push(entry.kind);
    cols.agentDid.push(entry.agentDid);
    cols.payloadHash.push(entry.payloadHash);
    cols.payload.push(canonicalJson(payload));
    cols.recordedAtMs.push(entry.recordedAtMs);
    cols.recordedAt.push(new Date(entry.recordedAtMs).toISOString());
    cols.workflowId.push(entry.workflowId);
    cols.runId.push(runId);
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
    const differing = existing.find((link) => storedHash.get(link.entry.seq) !== link.hash);
    if (differing) {
      const { seq } = differing.entry;
      const at = { seq, hash: differing.hash, storedHash: storedHash.get(seq) };
      throw new ConflictFound(await describeConflict(tx, sessionId, at, [...written]));
    }
  }
  await checkLinksToStored(tx, sessionId, batch[0]!, written);
  return { inserted: written.size, duplicates: existing.length };
}

/**
 * The batch links to itself (the activity checked it); its first link must also link to the stored chain, or the batch
 * would append a branch the stored entries do not lead to. Its predecessor missing is a gap: refused too.
 */
async function checkLinksToStored(
  tx: Queryable,
  sessionId: string,
  first: ChainedEntry,
  written: ReadonlySet<number>,
): Promise<void> {
  if (!written.has(first.entry.seq)) return;
  const before = first.entry.seq - 1;
  const stored =
    before === 0
      ? GENESIS_HASH
      : (
          await tx.query<{ hash: string }>(`SELECT hash FROM audit_entries WHERE session_id = $1 AND seq = $2`, [
            sessionId,
            before,
          ])
        ).rows[0]?.hash;
  if (stored !== first.prevHash) {
    const at = { seq: before, hash: first.prevHash, storedHash: stored };
    throw new ConflictFound(await describeConflict(tx, sessionId, at, [...written]));
  }
}

/** The stored chain from the conflicting link on; the rows this transaction just inserted (`ours`) are not in it. */
async function describeConflict(
  tx: Queryable,
  sessionId: string,
  { seq, hash, storedHash }: { seq: number; hash: string; storedHash: string | undefined },
  ours: number[],
): Promise<StoredConflict> {
  const head = await tx.query<{ seq: string; hash: string }>(
    `SELECT seq, hash FROM audit_entries WHERE session_id = $1 AND seq <> ALL($2::bigint[]) ORDER BY seq DESC LIMIT 1`,
    [sessionId, ours],
  );
  const writers = await tx.query<{ workflow_id: string; run_id: string }>(
    `SELECT workflow_id, run_id FROM audit_entries WHERE session_id = $1 AND seq >= $2 AND seq <> ALL($3::bigint[])
      GROUP BY workflow_id, run_id ORDER BY min(seq)`,
    [sessionId, seq, ours],
  );
  const top = head.rows[0];
  return {
    seq,
    storedHash: storedHash ?? '',
    hash,
    head: top ? { seq: Number(top.seq), hash: top.hash } : { seq: 0, hash: '' },
    writers: writers.rows.map((row) => ({ workflowId: row.workflow_id, runId: row.run_id })),
  };
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
