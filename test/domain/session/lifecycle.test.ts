import { describe, expect, it } from 'vitest';
import { appendEntry, GENESIS_HASH } from '../../../domain/audit-chain.js';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import { activateSession, archiveSession, beginTermination, createSessionData } from '../../../domain/session/index.js';
import { CreateSessionInput, TerminateSessionInput, type SessionData } from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  SESSION_ID,
  active,
  ctx,
  did,
  elevated,
  joined,
  killed,
  left,
  locked,
  newSession,
  parse,
} from '../../helpers/session-data.js';

const [A, B, C] = [did('zed'), did('amy'), did('kim')];
const terminate = (data: SessionData, input: TerminateSessionInput = {}) =>
  beginTermination(data, parse(TerminateSessionInput, input), ctx(NOW + 5_000));

describe('createSessionData', () => {
  it('starts handshaking with nobody in it, an empty chain and the deadline from maxDurationSeconds', () => {
    const input = deepFreeze(
      parse(CreateSessionInput, { sessionId: SESSION_ID, creatorDid: CREATOR, config: { maxDurationSeconds: 60 } }),
    );
    const data = createSessionData(input, NOW);
    expect(data).toMatchObject({
      sessionId: SESSION_ID,
      creatorDid: CREATOR,
      state: 'handshaking',
      createdAtMs: NOW,
      deadlineMs: NOW + 60_000,
      terminatedAtMs: null,
      terminationReason: null,
      participants: {},
      approvals: {},
      elevations: {},
      buckets: {},
      killIds: [],
      chain: { seq: 0, hash: GENESIS_HASH },
      stats: { allowed: 0, denied: 0, breaches: 0 },
      vouches: [],
    });
    expect(data.config).toMatchObject({
      maxParticipants: 10,
      minEffScore: 0.6,
      slashOn: ['saga_escalated', 'ring_breach'],
    });
    expect(newSession().deadlineMs).toBe(NOW + 3_600_000);
  });
});

describe('activateSession', () => {
  it('needs an active participant: an empty session, or one whose only agent left, cannot be activated', () => {
    const empty = deepFreeze(newSession());
    const none = failureOf(() => activateSession(empty, {}));
    expect(none.type).toBe(ErrorType.IllegalTransition);
    expect(none.message).toMatch(/cannot be activated without an active participant/);
    expect(hvErrorDetails(none)).toEqual({ state: 'handshaking' });
    const gone = deepFreeze(left(joined(newSession(), A, 0.8), A));
    expect(failureOf(() => activateSession(gone, {})).type).toBe(ErrorType.IllegalTransition);
  });

  it('goes handshaking → active and records who activated it', () => {
    const data = deepFreeze(joined(newSession(), A, 0.8));
    const out = activateSession(data, { authorizedBy: CREATOR });
    expect(out.result).toEqual({ state: 'active' });
    expect(out.data.state).toBe('active');
    expect(out.events).toEqual([{ kind: 'session_activated', agentDid: CREATOR, payload: {} }]);
    expect(activateSession(data, {}).events[0]!.agentDid).toBeNull();
  });

  it('refuses a second activation', () => {
    const again = failureOf(() => activateSession(deepFreeze(active(joined(newSession(), A, 0.8))), {}));
    expect(again.type).toBe(ErrorType.IllegalTransition);
    expect(hvErrorDetails(again)).toEqual({ state: 'active', allowed: ['handshaking'], operation: 'activating' });
  });
});

describe('illegal transitions', () => {
  it('archives only a terminating session, and only once', () => {
    const running = deepFreeze(active(joined(newSession(), A, 0.8)));
    const early = failureOf(() => archiveSession(running));
    expect(early.type).toBe(ErrorType.IllegalTransition);
    expect(hvErrorDetails(early)).toEqual({ from: 'active', to: 'archived' });
    const archived = deepFreeze(archiveSession(terminate(running).data).data);
    expect(hvErrorDetails(failureOf(() => archiveSession(archived)))).toEqual({ from: 'archived', to: 'archived' });
  });

  it('terminates only an open session', () => {
    const terminating = deepFreeze(terminate(newSession()).data);
    expect(terminating.state).toBe('terminating');
    const twice = failureOf(() => terminate(terminating));
    expect(twice.type).toBe(ErrorType.IllegalTransition);
    expect(hvErrorDetails(twice)).toMatchObject({ state: 'terminating', operation: 'terminating' });
  });
});

describe('beginTermination', () => {
  it('releases every lock and elevation with events, then records the reason and time', () => {
    let data = joined(joined(newSession(), A, 0.9), B, 0.8);
    data = locked(data, { agentDid: A, path: '/x', intent: 'exclusive' });
    data = locked(data, { agentDid: B, path: '/x', intent: 'write' });
    data = elevated(data, { agentDid: A, targetRing: 1, reason: 'hotfix', approvedBy: CREATOR });
    const elevationId = data.elevations[A]!.elevationId;
    const out = terminate(deepFreeze(data), { reason: 'work done', authorizedBy: CREATOR });

    expect(out.events).toEqual([
      {
        kind: 'lock_released',
        agentDid: A,
        payload: {
          lockId: 'lock:1',
          path: '/x',
          intent: 'exclusive',
          status: 'granted',
          expiresAtMs: NOW + 60_000,
          why: 'terminate',
        },
      },
      {
        kind: 'lock_released',
        agentDid: B,
        payload: {
          lockId: 'lock:2',
          path: '/x',
          intent: 'write',
          status: 'queued',
          expiresAtMs: NOW + 60_000,
          why: 'terminate',
        },
      },
      { kind: 'elevation_revoked', agentDid: A, payload: { elevationId, why: 'terminate' } },
      { kind: 'session_terminating', agentDid: CREATOR, payload: { reason: 'work done' } },
    ]);
    expect(out.result).toBeNull();
    expect(out.data).toMatchObject({
      state: 'terminating',
      terminationReason: 'work done',
      terminatedAtMs: NOW + 5_000,
      elevations: {},
      locks: { locks: {}, order: [], seq: 2 },
    });
  });

  it('defaults the reason to "requested" and has no actor when none is given', () => {
    const out = terminate(deepFreeze(newSession()));
    expect(out.events).toEqual([{ kind: 'session_terminating', agentDid: null, payload: { reason: 'requested' } }]);
    expect(out.data.terminationReason).toBe('requested');
  });
});

describe('archiveSession', () => {
  it('commits to the chain head and every agent that ever joined, sorted', () => {
    let data = joined(joined(joined(newSession(), A, 0.8), B, 0.8), C, 0.8);
    data = killed(left(data, C), A);
    let chain = data.chain;
    for (const kind of ['join', 'join', 'join'])
      chain = appendEntry(chain, {
        sessionId: SESSION_ID,
        kind,
        agentDid: null,
        payload: {},
        recordedAtMs: NOW,
        workflowId: 'wf',
        runId: 'run',
      }).head;
    const terminating = deepFreeze(terminate({ ...data, chain }, { reason: 'done' }).data);
    const { data: archived, commitment } = archiveSession(terminating);

    expect(archived.state).toBe('archived');
    expect(commitment).toEqual({
      sessionId: SESSION_ID,
      state: 'archived',
      reason: 'done',
      root: chain.hash,
      entryCount: 3,
      participants: [B, C, A],
      killSwitchTriggered: false,
      terminatedAtMs: NOW + 5_000,
    });
    expect(commitment.root).toMatch(/^[0-9a-f]{64}$/);
    expect(commitment.root).not.toBe(GENESIS_HASH);
  });

  it('carries the kill-switch flag of the session', () => {
    const flagged = deepFreeze(terminate({ ...newSession(), killSwitchTriggered: true }).data);
    expect(archiveSession(flagged).commitment.killSwitchTriggered).toBe(true);
  });
});
