import { z } from 'zod';
import type { Json } from './audit-chain.js';
import { AgentDid, identifier } from './identifiers.js';
import { MESSAGE_LIMITS, jsonBytes } from './limits.js';

/** Step states (docs/DESIGN.md §R7), plus `skipped`: a step whose checkpoint goal was already achieved in an earlier run. */
export type StepState =
  | 'pending'
  | 'executing'
  | 'committed'
  | 'skipped'
  | 'failed'
  | 'cancelled'
  | 'compensating'
  | 'compensated'
  | 'compensation_failed';

/**
 * Saga states. Terminal: `completed` (every stage succeeded), `compensated` (rolled back cleanly), `escalated` (a
 * compensation finally failed; liability escalation ran), `failed` (failed with nothing to roll back). A rollback is
 * never reported as `completed`.
 */
export type SagaStatus = 'running' | 'compensating' | 'completed' | 'compensated' | 'escalated' | 'failed';

export interface StepView {
  stepId: string;
  actionId: string;
  agentDid: string;
  state: StepState;
  attempts: number;
  startedAtMs: number | null;
  completedAtMs: number | null;
  result: Json | null;
  error: string | null;
  compensationError: string | null;
}

export interface SagaView {
  sagaId: string;
  sessionId: string;
  name: string;
  status: SagaStatus;
  steps: StepView[];
  error: string | null;
  startedAtMs: number;
  completedAtMs: number | null;
}

export const SagaRunOptions = z
  .strictObject({
    /** Route an agent's steps to its own task queue, where the agent runs its own step worker. */
    agentTaskQueues: z.record(AgentDid, z.string().min(1).max(200)).default({}),
    /** First retry delay; later retries back off exponentially (× 2). */
    retryInitialIntervalMs: z.number().int().min(10).max(600_000).default(1000),
    /** Attempts per compensation before the saga escalates. */
    compensationAttempts: z.number().int().min(1).max(100).default(5),
    /** Liveness of a running step: a step whose worker stops heartbeating this long is retried elsewhere. */
    heartbeatTimeoutMs: z.number().int().min(1000).max(3_600_000).default(10_000),
  })
  .default({
    agentTaskQueues: {},
    retryInitialIntervalMs: 1000,
    compensationAttempts: 5,
    heartbeatTimeoutMs: 10_000,
  });
export type SagaRunOptions = z.output<typeof SagaRunOptions>;

/** The kinds a saga reports to its session's audit chain (the session is the chain's single writer). */
export const SagaEventKind = z.enum([
  'saga_started',
  'saga_step_started',
  'saga_step_committed',
  'saga_step_skipped',
  'saga_step_failed',
  'saga_step_cancelled',
  'saga_step_compensated',
  'saga_step_compensation_failed',
  'saga_completed',
  'saga_compensated',
  'saga_escalated',
  'saga_failed',
  'saga_fault_attributed',
  'saga_step_reassigned',
]);
export type SagaEventKind = z.infer<typeof SagaEventKind>;

export const RecordSagaEventInput = z.strictObject({
  sagaId: identifier('sagaId'),
  kind: SagaEventKind,
  stepId: identifier('stepId').optional(),
  agentDid: AgentDid.optional(),
  /** Small structured facts (action, attempt, error…); bounded so one event cannot bloat the chain. */
  details: z
    .record(z.string(), z.json())
    .refine((d) => JSON.stringify(d).length <= 4096, 'details exceed 4096 bytes')
    .default({}),
});
export type RecordSagaEventInput = z.input<typeof RecordSagaEventInput>;

/** What a step executor receives (handler, HTTP body, or an agent's own worker). */
export interface StepInvocation {
  sagaId: string;
  sessionId: string;
  stepId: string;
  actionId: string;
  agentDid: string;
  mode: 'execute' | 'undo';
  api: string;
  /** Stable across retries of the same step and mode: services use it to apply an effect at most once. */
  idempotencyKey: string;
  /** Bumped when a step is handed to another agent, so a stale attempt can be refused. */
  epoch: number;
  /** The step's execute result, for undo. */
  result: Json | null;
}

export const StepRejectedType = 'StepRejected';

/** An object whose JSON stays below {@link MESSAGE_LIMITS.sagaDefinitionBytes} (its content is parsed further on). */
const boundedRecord = (what: string) =>
  z
    .record(z.string(), z.unknown())
    .refine(
      (value) => jsonBytes(value) <= MESSAGE_LIMITS.sagaDefinitionBytes,
      `${what} exceeds ${MESSAGE_LIMITS.sagaDefinitionBytes} bytes of JSON`,
    );

/** A session starting a saga of its own (the definition's session_id must be this session, or is filled in). */
export const StartSagaInput = z.strictObject({
  sagaId: identifier('sagaId').optional(),
  definition: boundedRecord('definition'),
  options: boundedRecord('options').optional(),
});
export type StartSagaInput = z.input<typeof StartSagaInput>;

/** The start arguments of a saga workflow; the definition is then parsed by `parseSagaDefinition`, the options here. */
export const SagaWorkflowInput = z.strictObject({
  sagaId: identifier('sagaId'),
  definition: boundedRecord('definition'),
  options: boundedRecord('options').optional(),
});
export type SagaWorkflowInput = z.input<typeof SagaWorkflowInput>;

/** `handOffSteps`: a session killed `agentDid`; its steps in flight go to `substituteDid` (or fail without one). */
export const HandOffStepsInput = z.strictObject({ agentDid: AgentDid, substituteDid: AgentDid.optional() });
export type HandOffStepsInput = z.input<typeof HandOffStepsInput>;
