import { ErrorType, hvError } from '../errors.js';
import { parseSagaDefinition, type SagaDefinition } from '../saga-dsl.js';
import type { RecordSagaEventInput, SagaEventKind, StartSagaInput } from '../saga-types.js';
import type { SessionData, SessionEvent } from '../session-types.js';
import { event, type Parsed } from './context.js';

/** Saga reports after which the saga no longer runs: a kill has no steps of it to hand off. */
export const SAGA_END_KINDS: readonly SagaEventKind[] = [
  'saga_completed',
  'saga_compensated',
  'saga_escalated',
  'saga_failed',
];

/** A saga start the session accepts: its definition, bound to this session, and parsed. */
export interface CheckedSagaStart {
  sagaId?: string | undefined;
  options?: Record<string, unknown> | undefined;
  definition: Record<string, unknown>;
  parsed: SagaDefinition;
}

/**
 * A session starts sagas while it is open, for itself only: a definition naming another session is refused, one
 * naming none is bound to this one.
 */
export function checkSagaStart(data: SessionData, input: Parsed<typeof StartSagaInput>): CheckedSagaStart {
  if (data.state !== 'active' && data.state !== 'handshaking')
    throw hvError(ErrorType.IllegalTransition, `session ${data.sessionId} is ${data.state}: it starts no sagas`, {
      sessionId: data.sessionId,
    });
  const given = input.definition.session_id;
  if (given !== undefined && given !== data.sessionId)
    throw hvError(
      ErrorType.InvalidInput,
      `the saga belongs to session ${JSON.stringify(given)}, not ${data.sessionId}`,
      {},
    );
  const definition: Record<string, unknown> = { ...input.definition, session_id: data.sessionId };
  return { ...input, definition, parsed: parseSagaDefinition(definition) };
}

/** The chain entry of a saga's report (the session is its chain's single writer). */
export const sagaEventEntry = (e: Parsed<typeof RecordSagaEventInput>): SessionEvent =>
  event(e.kind, e.agentDid ?? null, { ...e.details, sagaId: e.sagaId, stepId: e.stepId ?? null });
