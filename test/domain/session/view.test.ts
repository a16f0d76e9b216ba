import { describe, expect, it } from 'vitest';
import { sessionView, snapshotSharedState, writeSharedState } from '../../../domain/session/index.js';
import { SnapshotInput, WriteStateInput, type SessionData } from '../../../domain/session-types.js';
import { deepFreeze } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  SESSION_ID,
  actions,
  ctx,
  did,
  elevated,
  joined,
  left,
  locked,
  newSession,
  parse,
  participant,
  quarantined,
} from '../../helpers/session-data.js';

const [UP, ISOLATED, GONE] = [did('up'), did('isolated'), did('gone')];
const audit = { persistedSeq: 2, pending: 1, fault: null };
const run = { runId: 'run-1', historyLength: 42 };

function busySession(): SessionData {
  let data = joined(newSession(), UP, 0.9, [actions.read, actions.deploy]);
  data = joined(joined(data, ISOLATED, 0.9), GONE, 0.7);
  data = elevated(data, { agentDid: UP, targetRing: 1, reason: 'fix', approvedBy: CREATOR, ttlSeconds: 60 });
  data = quarantined(left(data, GONE, NOW + 5), ISOLATED);
  data = locked(data, { agentDid: UP, path: '/x', intent: 'write' });
  data = writeSharedState(data, parse(WriteStateInput, { agentDid: UP, path: '/notes', content: 'hello' }), ctx()).data;
  return snapshotSharedState(data, parse(SnapshotInput, { agentDid: UP, snapshotId: 'snap-1' }), ctx()).data;
}

describe('sessionView', () => {
  it('answers the whole session with effective rings, active elevations and action ids', () => {
    const data = deepFreeze(busySession());
    const { actions: _upActions, ...up } = participant(data, UP);
    const { actions: _isoActions, ...isolated } = participant(data, ISOLATED);
    const { actions: _goneActions, ...gone } = participant(data, GONE);
    expect(sessionView(data, audit, run, NOW)).toEqual({
      sessionId: SESSION_ID,
      creatorDid: CREATOR,
      state: 'handshaking',
      config: data.config,
      createdAtMs: NOW,
      deadlineMs: NOW + 3_600_000,
      terminatedAtMs: null,
      terminationReason: null,
      participants: [
        { ...up, effectiveRing: 1, elevation: data.elevations[UP], actions: ['read-docs', 'deploy'] },
        { ...isolated, effectiveRing: 3, elevation: null, actions: [] },
        { ...gone, status: 'left', leftAtMs: NOW + 5, effectiveRing: 2, elevation: null, actions: [] },
      ],
      approvals: {},
      locks: [data.locks.locks['lock:1']],
      vfs: { files: 1, totalBytes: 5, snapshots: ['snap-1'], conflicts: 0 },
      audit: { entries: 0, head: data.chain.hash, persistedSeq: 2, pending: 1, fault: null },
      stats: { allowed: 0, denied: 0, breaches: 0 },
      runId: 'run-1',
      historyLength: 42,
    });
  });

  it('shows an expired elevation as gone and the base ring as effective', () => {
    const view = sessionView(deepFreeze(busySession()), audit, run, NOW + 60_000);
    expect(view.participants[0]).toMatchObject({ agentDid: UP, ring: 2, effectiveRing: 2, elevation: null });
  });
});
