import type { SessionData, SessionView } from '../session-types.js';
import { sessionLocks } from './locks.js';
import { activeElevation, effectiveRingOf } from './participants.js';

/** Where the session's audit outbox stands, as the view shows it. */
export interface AuditStatus {
  persistedSeq: number;
  pending: number;
  fault: string | null;
}

/** The whole session as the `getSessionState` query answers it: participants with their effective rings, locks… */
export function sessionView(
  data: SessionData,
  audit: AuditStatus,
  run: { runId: string; historyLength: number },
  nowMs: number,
): SessionView {
  return {
    sessionId: data.sessionId,
    creatorDid: data.creatorDid,
    state: data.state,
    config: data.config,
    createdAtMs: data.createdAtMs,
    deadlineMs: data.deadlineMs,
    terminatedAtMs: data.terminatedAtMs,
    terminationReason: data.terminationReason,
    participants: Object.values(data.participants).map((participant) => ({
      ...participant,
      effectiveRing: effectiveRingOf(data, participant, nowMs),
      elevation: activeElevation(data, participant.agentDid, nowMs),
      actions: Object.keys(participant.actions),
    })),
    approvals: data.approvals,
    locks: sessionLocks(data, {}),
    vfs: {
      files: Object.keys(data.vfs.files).length,
      totalBytes: data.vfs.totalBytes,
      snapshots: Object.keys(data.vfs.snapshots),
      conflicts: data.vfs.conflicts,
    },
    audit: { entries: data.chain.seq, head: data.chain.hash, ...audit },
    stats: data.stats,
    ...run,
  };
}
