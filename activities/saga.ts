import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Json } from '../domain/audit-chain.js';
import { ErrorType, hvError, isHypervisorErrorType } from '../domain/errors.js';
import type { Decision } from '../domain/session-types.js';
import {
  authorizeActionUpdate,
  handOffStepsUpdate,
  registerSagaSignal,
  sagaWorkflowId,
  sessionWorkflowId,
  type StepHandOff,
} from '../workflows/messages.js';
import type { Pool } from '../store/db.js';
import { internalSigner, type InternalSigner } from '../store/internal-crypto.js';
import {
  findCheckpoint,
  insertCheckpoint,
  invalidateCheckpoints,
  upsertEscalation,
  type SagaEscalation,
  type StoredCheckpoint,
} from '../store/saga.js';

export interface SagaDeps {
  pool: Pool;
  /** A Temporal client, for authorizing steps with their session (an activity may call updates; a workflow may not). */
  temporal?: () => Promise<Client>;
  /** Signs kill hand-offs (a saga accepts only signed ones). */
  internal?: InternalSigner;
  /** Times each step authorization (the worker's `hypervisor_authorize_latency_seconds{caller="saga_step"}`). */
  onAuthorized?: (seconds: number, outcome: 'allow' | 'deny' | 'error') => void;
}

/** The saga activities: authorization with the session, kill hand-offs, checkpoints and escalation. */
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
      const started = performance.now();
      const observe = (outcome: 'allow' | 'deny' | 'error') =>
        deps.onAuthorized?.((performance.now() - started) / 1000, outcome);
      try {
        const decision = await client.workflow
          .getHandle(sessionWorkflowId(input.sessionId))
          .executeUpdate(authorizeActionUpdate, {
            args: [{ agentDid: input.agentDid, actionId: input.actionId }],
            updateId: input.updateId,
          });
        observe(decision.allowed ? 'allow' : 'deny');
        return decision;
      } catch (err) {
        observe('error');
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
      const workflowId = sagaWorkflowId(input.sagaId);
      const body = { agentDid: input.agentDid, ...(input.substituteDid ? { substituteDid: input.substituteDid } : {}) };
      const auth = internalSigner(deps).sign(handOffStepsUpdate.name, workflowId, body);
      try {
        return await client.workflow.getHandle(workflowId).executeUpdate(handOffStepsUpdate, {
          args: [{ ...body, auth }],
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
      return findCheckpoint(deps.pool, input);
    },

    /** Records an achieved goal; idempotent (a retry finds the valid row already there). */
    async saveCheckpoint(input: {
      sagaId: string;
      stepId: string;
      goal: string;
      goalHash: string;
      result: Json | null;
    }): Promise<void> {
      await insertCheckpoint(deps.pool, input);
    },

    /** Invalidates a step's checkpoint (its effect was compensated) or all of a saga's; returns how many. */
    async invalidateCheckpoints(input: { sagaId: string; stepId?: string; by: string }): Promise<number> {
      return invalidateCheckpoints(deps.pool, input);
    },

    /**
     * Liability escalation hook for a saga whose compensation finally failed. Records the escalation (failed steps and
     * the agents involved) for the liability ledger; attribution and slashing build on this row.
     */
    async escalateSaga(input: SagaEscalation): Promise<void> {
      await upsertEscalation(deps.pool, input);
    },
  };
}

/** Sagas started outside their session register with it (docs/DESIGN.md §3.5). */
export function createSagaRegistrationActivities(deps: SagaDeps) {
  return {
    /**
     * Names a saga's steps and agents to its session, signed, so the session accepts the saga's events (a saga the
     * session launched itself needs none). A session that has ended has nothing to record.
     */
    async registerSagaWithSession(input: {
      sessionId: string;
      sagaId: string;
      steps: Array<{ stepId: string; agentDid: string }>;
    }): Promise<void> {
      if (!deps.temporal) throw new Error('this worker has no Temporal client for saga registration');
      const client = await deps.temporal();
      const workflowId = sessionWorkflowId(input.sessionId);
      const body = { sagaId: input.sagaId, steps: input.steps };
      const auth = internalSigner(deps).sign(registerSagaSignal.name, workflowId, body);
      await client.workflow
        .getHandle(workflowId)
        .signal(registerSagaSignal, { ...body, auth })
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
    },
  };
}
