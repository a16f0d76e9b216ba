import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import { RecordSagaEventInput, SagaEventKind, StartSagaInput } from '../../../domain/saga-types.js';
import { SAGA_END_KINDS, beginTermination, checkSagaStart, sagaEventEntry } from '../../../domain/session/index.js';
import type { SessionData } from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import { SESSION_ID, active, ctx, did, joined, newSession, parse } from '../../helpers/session-data.js';

const A = did('a');
const definition = (extra: Record<string, unknown> = {}) => ({
  name: 'deploy',
  steps: [{ id: 'a', action_id: 'do-work', agent: A }],
  ...extra,
});
const start = (data: SessionData, input: StartSagaInput) =>
  checkSagaStart(deepFreeze(data), deepFreeze(parse(StartSagaInput, input)));

describe('checkSagaStart', () => {
  it('binds a definition that names no session to this one, and parses it', () => {
    const checked = start(newSession(), { sagaId: 'saga-1', definition: definition(), options: { x: 1 } });
    expect(checked.sagaId).toBe('saga-1');
    expect(checked.options).toEqual({ x: 1 });
    expect(checked.definition).toEqual({ ...definition(), session_id: SESSION_ID });
    expect(checked.parsed).toMatchObject({
      name: 'deploy',
      session_id: SESSION_ID,
      steps: [{ id: 'a', action_id: 'do-work', agent: A, undo_api: null, retries: 0, depends_on: [] }],
      fan_outs: [],
    });
  });

  it('accepts its own session id, in a handshaking or active session', () => {
    const own = { definition: definition({ session_id: SESSION_ID }) };
    expect(start(newSession(), own).parsed.session_id).toBe(SESSION_ID);
    expect(start(active(joined(newSession(), A, 0.8)), own).parsed.session_id).toBe(SESSION_ID);
  });

  it('refuses a foreign session id and an invalid definition', () => {
    const foreign = failureOf(() => start(newSession(), { definition: definition({ session_id: 'ss-other' }) }));
    expect(foreign.type).toBe(ErrorType.InvalidInput);
    expect(foreign.message).toBe(`the saga belongs to session "ss-other", not ${SESSION_ID}`);
    const invalid = failureOf(() => start(newSession(), { definition: definition({ steps: [] }) }));
    expect(invalid.type).toBe(ErrorType.SagaDefinitionInvalid);
    expect(hvErrorDetails(invalid).errors).toEqual([expect.objectContaining({ path: 'steps' })]);
  });

  it('starts no saga once the session is closing', () => {
    const closing = beginTermination(newSession(), { reason: 'x' }, ctx()).data;
    const refused = failureOf(() => start(closing, { definition: definition() }));
    expect(refused.type).toBe(ErrorType.IllegalTransition);
    expect(hvErrorDetails(refused)).toEqual({ sessionId: SESSION_ID });
  });
});

describe('sagaEventEntry', () => {
  it('turns a saga report into a chain entry with its saga and step', () => {
    const report = parse(RecordSagaEventInput, {
      sagaId: 'saga-1',
      kind: 'saga_step_failed',
      stepId: 'b',
      agentDid: A,
      details: { error: 'boom', attempt: 2 },
    });
    expect(sagaEventEntry(deepFreeze(report))).toEqual({
      kind: 'saga_step_failed',
      agentDid: A,
      payload: { error: 'boom', attempt: 2, sagaId: 'saga-1', stepId: 'b' },
    });
  });

  it('has no agent or step for a saga-level report, and the report’s ids win over its details', () => {
    const report = parse(RecordSagaEventInput, {
      sagaId: 'saga-1',
      kind: 'saga_completed',
      details: { sagaId: 'fake' },
    });
    expect(sagaEventEntry(report)).toEqual({
      kind: 'saga_completed',
      agentDid: null,
      payload: { sagaId: 'saga-1', stepId: null },
    });
  });
});

describe('SAGA_END_KINDS', () => {
  it('are the reports after which a saga no longer runs', () => {
    expect([...SAGA_END_KINDS].sort()).toEqual(['saga_compensated', 'saga_completed', 'saga_escalated', 'saga_failed']);
    const running = SagaEventKind.options.filter((kind) => !SAGA_END_KINDS.includes(kind));
    expect(running).toContain('saga_started');
    expect(running).toContain('saga_step_reassigned');
    expect(running).toHaveLength(SagaEventKind.options.length - 4);
  });
});
