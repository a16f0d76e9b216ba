import type { Json } from '../domain/audit-chain.js';
import type { Queryable } from './db.js';

/** An achieved step goal, kept so a resumed saga skips the step. */
export interface StoredCheckpoint {
  stepId: string;
  goal: string;
  goalHash: string;
  result: Json | null;
  achievedAtMs: number;
  invalidatedAtMs: number | null;
}

interface CheckpointRow {
  step_id: string;
  goal: string;
  goal_hash: string;
  result: Json | null;
  achieved_at: Date;
  invalidated_at: Date | null;
}

const toCheckpoint = (row: CheckpointRow): StoredCheckpoint => ({
  stepId: row.step_id,
  goal: row.goal,
  goalHash: row.goal_hash,
  result: row.result,
  achievedAtMs: row.achieved_at.getTime(),
  invalidatedAtMs: row.invalidated_at?.getTime() ?? null,
});

/** The still-valid checkpoint of a step for this goal, or null. */
export async function findCheckpoint(
  db: Queryable,
  key: { sagaId: string; stepId: string; goalHash: string },
): Promise<StoredCheckpoint | null> {
  const { rows } = await db.query<CheckpointRow>(
    `SELECT * FROM saga_checkpoints
      WHERE saga_id = $1 AND step_id = $2 AND goal_hash = $3 AND invalidated_at IS NULL`,
    [key.sagaId, key.stepId, key.goalHash],
  );
  return rows[0] ? toCheckpoint(rows[0]) : null;
}

/** Stores an achieved goal; a step that already has a valid checkpoint keeps it, so retries are harmless. */
export async function insertCheckpoint(
  db: Queryable,
  checkpoint: { sagaId: string; stepId: string; goal: string; goalHash: string; result: Json | null },
): Promise<void> {
  await db.query(
    `INSERT INTO saga_checkpoints (saga_id, step_id, goal, goal_hash, result) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (saga_id, step_id) WHERE invalidated_at IS NULL DO NOTHING`,
    [checkpoint.sagaId, checkpoint.stepId, checkpoint.goal, checkpoint.goalHash, JSON.stringify(checkpoint.result)],
  );
}

/** Every checkpoint of a saga, valid or not, in the order they were written. */
export async function listCheckpoints(db: Queryable, sagaId: string): Promise<StoredCheckpoint[]> {
  const { rows } = await db.query<CheckpointRow>(`SELECT * FROM saga_checkpoints WHERE saga_id = $1 ORDER BY id`, [
    sagaId,
  ]);
  return rows.map(toCheckpoint);
}

/** Invalidates one step's valid checkpoint, or all of a saga's; returns how many. */
export async function invalidateCheckpoints(
  db: Queryable,
  input: { sagaId: string; stepId?: string; by: string },
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE saga_checkpoints SET invalidated_at = now(), invalidated_by = $3
      WHERE saga_id = $1 AND ($2::text IS NULL OR step_id = $2) AND invalidated_at IS NULL`,
    [input.sagaId, input.stepId ?? null, input.by],
  );
  return rowCount ?? 0;
}

/** A saga whose compensation failed, as the liability ledger needs it. */
export interface SagaEscalation {
  sagaId: string;
  sessionId: string;
  failedSteps: Array<{ stepId: string; agentDid: string; error: string }>;
  agents: string[];
  reason: string;
}

/** Stores (or updates) a saga's escalation row. */
export async function upsertEscalation(db: Queryable, e: SagaEscalation): Promise<void> {
  await db.query(
    `INSERT INTO saga_escalations (saga_id, session_id, failed_steps, agents, reason) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (saga_id) DO UPDATE SET failed_steps = EXCLUDED.failed_steps, agents = EXCLUDED.agents,
                                         reason = EXCLUDED.reason`,
    [e.sagaId, e.sessionId, JSON.stringify(e.failedSteps), JSON.stringify(e.agents), e.reason],
  );
}
