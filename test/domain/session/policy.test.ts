import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../../domain/errors.js';
import {
  followUpsOf,
  isRoutineAllow,
  joinDeniedEvent,
  joinSession,
  killAgent,
  slashEvent,
  slashFor,
  type SlashRequest,
} from '../../../domain/session/index.js';
import type { SessionConfigInput } from '../../../domain/session-config.js';
import {
  ADMIT,
  JoinSessionInput,
  KillAgentInput,
  type KillReason,
  type SessionData,
  type SessionEvent,
} from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import { CREATOR, NOW, SESSION_ID, ctx, did, joined, newSession, parse } from '../../helpers/session-data.js';

const [A, BACKUP, SUB] = [did('a'), did('backup'), did('sub')];
const session = (config: SessionConfigInput = {}) => joined(joined(newSession(config), A, 0.8), BACKUP, 0.8);
/** The kill event the session records, from the reducer itself. */
function killEvent(data: SessionData, reason: KillReason, substituteDid?: string): SessionEvent {
  const input = {
    killId: 'k1',
    agentDid: A,
    reason,
    authorizedBy: CREATOR,
    ...(substituteDid ? { substituteDid } : {}),
  };
  return killAgent(data, parse(KillAgentInput, input), ctx()).events.at(-1)!;
}
const escalated = (rootCause?: string): SessionEvent => ({
  kind: 'saga_escalated',
  agentDid: null,
  payload: { sagaId: 'saga-1', ...(rootCause ? { rootCause } : {}) },
});

describe('isRoutineAllow', () => {
  it('is true only for allowed decisions', () => {
    expect(isRoutineAllow({ kind: 'decision', agentDid: A, payload: { allowed: true } })).toBe(true);
    expect(isRoutineAllow({ kind: 'decision', agentDid: A, payload: { allowed: false } })).toBe(false);
    expect(isRoutineAllow({ kind: 'join', agentDid: A, payload: { allowed: true } })).toBe(false);
  });
});

describe('slashFor', () => {
  it('slashes ring-breach kills and escalated sagas under the default policy, not other kills', () => {
    const data = deepFreeze(session());
    expect(slashFor(data, killEvent(data, 'ring_breach'))).toEqual({
      slashId: `${SESSION_ID}/kill/k1`,
      culpritDid: A,
      culpritSigma: 0.8,
      reason: 'ring_breach',
    });
    expect(slashFor(data, killEvent(data, 'manual'))).toBeNull();
    expect(slashFor(data, escalated(A))).toEqual({
      slashId: 'saga-1/slash',
      culpritDid: A,
      culpritSigma: 0.8,
      reason: 'saga_escalated',
    });
    expect(slashFor(data, escalated(did('outsider')))).toMatchObject({ culpritSigma: 0 });
    expect(slashFor(data, escalated())).toBeNull();
    expect(slashFor(data, { kind: 'breach', agentDid: A, payload: {} })).toBeNull();
  });

  it('follows slashOn: kill covers the other kill reasons only, and an empty policy slashes nothing', () => {
    const kills = session({ slashOn: ['kill'] });
    expect(slashFor(kills, killEvent(kills, 'manual'))).toMatchObject({
      reason: 'manual',
      slashId: `${SESSION_ID}/kill/k1`,
    });
    expect(slashFor(kills, killEvent(kills, 'quarantine_timeout'))).toMatchObject({ reason: 'quarantine_timeout' });
    expect(slashFor(kills, killEvent(kills, 'ring_breach'))).toBeNull();
    expect(slashFor(kills, escalated(A))).toBeNull();
    const none = session({ slashOn: [] });
    expect(slashFor(none, killEvent(none, 'ring_breach'))).toBeNull();
    expect(slashFor(none, escalated(A))).toBeNull();
  });
});

describe('followUpsOf', () => {
  it('hands off a kill only while sagas run, to the kill’s substitute or the registered one, then slashes', () => {
    const data = deepFreeze(session({ substitutes: [BACKUP], slashOn: ['kill'] }));
    const kill = killEvent(data, 'manual');
    const slash = { kind: 'slash', slash: slashFor(data, kill) };
    expect(followUpsOf(data, kill, false, NOW)).toEqual([slash]);
    expect(followUpsOf(data, kill, true, NOW)).toEqual([
      { kind: 'handoff', killId: 'k1', agentDid: A, substituteDid: BACKUP },
      slash,
    ]);
    expect(followUpsOf(data, killEvent(data, 'manual', SUB), true, NOW)[0]).toMatchObject({ substituteDid: SUB });
    const alone = session({ slashOn: [] });
    expect(followUpsOf(alone, killEvent(alone, 'manual'), true, NOW)).toEqual([
      { kind: 'handoff', killId: 'k1', agentDid: A, substituteDid: null },
    ]);
  });

  it('slashes an escalated saga whether or not sagas still run, and ignores other events', () => {
    const data = session();
    expect(followUpsOf(data, escalated(A), false, NOW)).toEqual([
      { kind: 'slash', slash: slashFor(data, escalated(A)) },
    ]);
    expect(followUpsOf(data, { kind: 'leave', agentDid: A, payload: {} }, true, NOW)).toEqual([]);
  });
});

describe('slashEvent', () => {
  it('records every σ and bond change in decimals', () => {
    const slash: SlashRequest = { slashId: 's1', culpritDid: A, culpritSigma: 0.8, reason: 'ring_breach' };
    const changes = [
      { agentDid: A, kind: 'sigma', before: 800_000, after: 0 },
      { agentDid: BACKUP, kind: 'sigma', before: 900_000, after: 450_000 },
    ];
    expect(slashEvent(deepFreeze(slash), deepFreeze(changes))).toEqual({
      kind: 'slash',
      agentDid: A,
      payload: {
        slashId: 's1',
        reason: 'ring_breach',
        changes: [
          { agentDid: A, kind: 'sigma', before: 0.8, after: 0 },
          { agentDid: BACKUP, kind: 'sigma', before: 0.9, after: 0.45 },
        ],
      },
    });
  });
});

describe('joinDeniedEvent', () => {
  it('records refusals by kill switch and by standing, and nothing else', () => {
    const standing = { ...ADMIT, recommendation: 'deny' as const, riskScore: 0.7, blacklisted: true };
    const refused = failureOf(() =>
      joinSession(newSession(), parse(JoinSessionInput, { agentDid: A }), ctx(), standing),
    );
    expect(joinDeniedEvent(refused.type!, A, standing)).toEqual({
      kind: 'join_denied',
      agentDid: A,
      payload: { reason: 'standing', riskScore: 0.7, blacklisted: true },
    });
    expect(joinDeniedEvent(ErrorType.KillSwitchTripped, A, standing)).toEqual({
      kind: 'join_denied',
      agentDid: A,
      payload: { reason: 'kill_switch_tripped' },
    });
    expect(joinDeniedEvent(ErrorType.SessionFull, A, standing)).toBeNull();
  });
});
