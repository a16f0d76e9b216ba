import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Json } from '../domain/audit-chain.js';
import { ErrorType, hvError, isHypervisorErrorType } from '../domain/errors.js';
import type { Decision } from '../domain/session-types.js';
import {
  authorizeActionUpdate,
  handOffStepsUpdate,
  sagaWorkflowId,
  sessionWorkflowId,
  type StepHandOff,
} from '../workflows/messages.js';
import type { Pool } from './db.js';

export interface SagaDeps {
  pool: Pool;
  /** A Temporal client, for authorizing steps with their session (an activity may call updates; a workflow may not). */
  temporal?: () => Promise<Client>;
}

export interface StoredCheckpoint {
  stepId: string;
  goal: string;
  goalHash: string;
  result: Json | null;
  achievedAtMs: number;
  invalidatedAtMs: number | null;
}

export function createSagaActivities(deps: SagaDeps) {
  return {
    /**
     * Asks the saga's session whether the step's agent may take the step's action now (ring, rate limit, not killed).
     * The update id is fixed by the workflow, so a retried activity never consumes a second token.
     */
    async authorizeSagaStep(input: {
      sessionId: string;
      agentDid: string;
      actionId: string;
      updateId: string;
    }): Promise<Decision> {
      if (!deps.temporal) throw new Error('this worker has no Temporal client for saga authorization');
      const client = await deps.temporal();
      try {
        return await client.workflow
          .getHandle(sessionWorkflowId(input.sessionId))
          .executeUpdate(authorizeActionUpdate, {
            args: [{ agentDid: input.agentDid, actionId: input.actionId }],
            updateId: input.updateId,
          });
      } catch (err) {
        const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (cause instanceof ApplicationFailure && isHypervisorErrorType(cause.type))
          throw hvError(cause.type, cause.message, { sessionId: input.sessionId, agentDid: input.agentDid });
        if (err instanceof WorkflowNotFoundError || /not found|already completed/i.test((err as Error).message))
          throw hvError(ErrorType.SessionNotFound, `session ${input.sessionId} not found or no longer running`, {
            sessionId: input.sessionId,
          });
        throw err;
      }
    },

    /**
     * Tells a saga that one of its agents was killed: its in-flight steps are cancelled and handed to the substitute
     * (or failed). Returns what became of each step; a saga that has ended has nothing in flight.
     */
    async handOffAgentSteps(input: {
      sagaId: string;
      agentDid: string;
      substituteDid?: string;
      killId: string;
    }): Promise<StepHandOff[]> {
      if (!deps.temporal) throw new Error('this worker has no Temporal client for kill hand-off');
      const client = await deps.temporal();
      try {
        return await client.workflow.getHandle(sagaWorkflowId(input.sagaId)).executeUpdate(handOffStepsUpdate, {
          args: [{ agentDid: input.agentDid, substituteDid: input.substituteDid }],
          updateId: `${input.killId}/handoff`,
        });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError || /not found|already completed/i.test((err as Error).message))
          return [];
        throw err;
      }
    },

    /** The still-valid checkpoint of a step, if its goal was achieved in an earlier run of this saga. */
    async findCheckpoint(input: {
      sagaId: string;
      stepId: string;
      goalHash: string;
    }): Promise<StoredCheckpoint | null> {
      const { rows } = await deps.pool.query<CheckpointRow>(
        `SELECT * FROM saga_checkpoints
          WHERE saga_id = $1 AND step_id = $2 AND goal_hash = $3 AND invalidated_at IS NULL`,
        [input.sagaId, input.stepId, input.goalHash],
      );
      return rows[0] ? toCheckpoint(rows[0]) : null;
    },

    /** Records an achieved goal; idempotent (a retry finds the valid row already there). */
    async saveCheckpoint(input: {
      sagaId: string;
      stepId: string;
      goal: string;
      goalHash: string;
      result: Json | null;
    }): Promise<void> {
      await deps.pool.query(
        `INSERT INTO saga_checkpoints (saga_id, step_id, goal, goal_hash, result) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (saga_id, step_id) WHERE invalidated_at IS NULL DO NOTHING`,
        [input.sagaId, input.stepId, input.goal, input.goalHash, JSON.stringify(input.result)],
      );
    },

    /** Invalidates a step's checkpoint (its effect was compensated) or all of a saga's; returns how many. */
    async invalidateCheckpoints(input: { sagaId: string; stepId?: string; by: string }): Promise<number> {
      return invalidateCheckpoints(deps.pool, input);
    },

    /**
     * Liability escalation hook for a saga whose compensation finally failed. Records the escalation (failed steps and
     * the agents involved) for the liability ledger; attribution and slashing build on this row.
     */
    async escalateSaga(input: {
      sagaId: string;
      sessionId: string;
      failedSteps: Array<{ stepId: string; agentDid: string; error: string }>;
      agents: string[];
      reason: string;
    }): Promise<void> {
      await deps.pool.query(
        `INSERT INTO saga_escalations (saga_id, session_id, failed_steps, agents, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (saga_id) DO UPDATE SET failed_steps = EXCLUDED.failed_steps, agents = EXCLUDED.agents,
                                             reason = EXCLUDED.reason`,
        [input.sagaId, input.sessionId, JSON.stringify(input.failedSteps), JSON.stringify(input.agents), input.reason],
      );
    },
  };
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

export async function listCheckpoints(pool: Pool, sagaId: string): Promise<StoredCheckpoint[]> {
  const { rows } = await pool.query<CheckpointRow>(`SELECT * FROM saga_checkpoints WHERE saga_id = $1 ORDER BY id`, [
    sagaId,
  ]);
  return rows.map(toCheckpoint);
}

export async function invalidateCheckpoints(
  pool: Pool,
  input: { sagaId: string; stepId?: string; by: string },
): Promise<number> {
  const { rowCount } = await pool.query(
    `UPDATE saga_checkpoints SET invalidated_at = now(), invalidated_by = $3
      WHERE saga_id = $1 AND ($2::text IS NULL OR step_id = $2) AND invalidated_at IS NULL`,
    [input.sagaId, input.stepId ?? null, input.by],
  );
  return rowCount ?? 0;
}
