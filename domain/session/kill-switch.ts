/**
 * The identity's deny-rate kill switch as one session sees it (docs/DESIGN.md §3.3). The identity's workflow counts
 * every session's decisions (reported in batches with the audit flush) and is the authority; each session also keeps a
 * copy of its participant's window so that the decision that crosses the threshold here is the last one served here.
 */
import {
  BREAK_GLASS,
  COPY_EVENTS,
  recordDecision,
  type KillSwitchCopy,
  type KillSwitchNotice,
} from '../kill-switch.js';
import type { Decision, SessionData } from '../session-types.js';
import { event, type Change, type OpContext } from './context.js';
import { killAgent } from './control.js';

/** The session's copies, by agent DID (absent in state carried from before they existed). */
const copiesOf = (data: SessionData): Record<string, KillSwitchCopy> => data.killSwitches ?? {};

/** Keeps (or drops) the session's copy of an agent's switch: only an armed switch is worth a copy. */
export function adoptKillSwitchCopy(data: SessionData, agentDid: string, copy: KillSwitchCopy | null): SessionData {
  const { [agentDid]: _old, ...others } = copiesOf(data);
  if (!copy || !copy.config.enabled) return data.killSwitches ? { ...data, killSwitches: others } : data;
  return { ...data, killSwitches: { ...others, [agentDid]: copy } };
}

/** The kill switch's own notice as this session records it when its decision `decisionId` crossed the threshold. */
function localTrip(data: SessionData, agentDid: string, copy: KillSwitchCopy, decisionId: string): KillSwitchNotice {
  return {
    agentDid,
    event: 'tripped',
    trigger: 'deny_rate',
    reason: BREAK_GLASS.triggered,
    authorizedBy: null,
    trippingSessionId: data.sessionId,
    decisionId,
    windowSeconds: copy.config.window_seconds,
  };
}

/**
 * Counts a decision in the agent's copy. At the crossing decision the switch trips here and now: the entry, the flag on
 * the commitment and the kill follow the decision, and the identity is told (a follow-up of the entry).
 */
export function observeKillSwitch(
  data: SessionData,
  agentDid: string,
  decision: Pick<Decision, 'allowed'>,
  decisionId: string,
  ctx: OpContext,
): Change {
  const copy = copiesOf(data)[agentDid];
  if (!copy) return { data, events: [] };
  const out = recordDecision(copy, {
    kind: decision.allowed ? 'allow' : 'deny',
    atMs: ctx.nowMs,
    sessionId: data.sessionId,
    decisionId,
  });
  const events = out.state.events;
  const kept = { ...out.state, events: events.length > COPY_EVENTS ? events.slice(-COPY_EVENTS) : events };
  const counted = { ...data, killSwitches: { ...copiesOf(data), [agentDid]: kept } };
  if (!out.tripped) return { data: counted, events: [] };
  const notice = localTrip(data, agentDid, kept, decisionId);
  const noted = killSwitchNoticeChange(counted, notice, 'session');
  const killed = killSwitchKill(noted.data, notice, ctx, `kill-switch-${decisionId}`);
  return { data: killed.data, events: [...noted.events, ...killed.events] };
}

/** The copy as a notice from the identity leaves it: blocked, lifted (window cleared) or refreshed. */
function copyAfterNotice(data: SessionData, notice: KillSwitchNotice, nowMs: number): SessionData {
  const copy = copiesOf(data)[notice.agentDid];
  if (notice.copy) return adoptKillSwitchCopy(data, notice.agentDid, notice.copy);
  if (!copy) return data;
  if (notice.event === 'unblocked')
    return adoptKillSwitchCopy(data, notice.agentDid, { ...copy, blocked: null, events: [] });
  if (notice.event === 'tripped' && copy.blocked === null)
    return adoptKillSwitchCopy(data, notice.agentDid, {
      ...copy,
      blocked: {
        // The identity's own block time is not in the notice; the copy records when this session learnt of it.
        atMs: nowMs,
        reason: notice.reason,
        trigger: notice.trigger,
        authorizedBy: notice.authorizedBy,
        sessionId: notice.trippingSessionId,
        decisionId: notice.decisionId,
      },
      trips: copy.trips + 1,
    });
  return data;
}

/** True when this notice is the identity echoing the trip this session already applied at its own decision. */
function isOwnTrip(data: SessionData, notice: KillSwitchNotice): boolean {
  const blocked = copiesOf(data)[notice.agentDid]?.blocked;
  return (
    notice.event === 'tripped' &&
    notice.trippingSessionId === data.sessionId &&
    blocked != null &&
    blocked.decisionId === notice.decisionId
  );
}

/**
 * A notice from the identity's workflow: the switch tripped (deny rate or operator), was lifted, or was reconfigured.
 * Records the `break_glass_used` entry, flags the commitment, kills the agent here, and updates the session's copy. The
 * echo of a trip this session made itself changes nothing.
 */
export function applyKillSwitchNotice(data: SessionData, notice: KillSwitchNotice, ctx: OpContext): Change {
  if (notice.event === 'configured') return { data: copyAfterNotice(data, notice, ctx.nowMs), events: [] };
  if (isOwnTrip(data, notice)) return { data, events: [] };
  const noted = killSwitchNoticeChange(copyAfterNotice(data, notice, ctx.nowMs), notice, 'identity');
  const killed = killSwitchKill(noted.data, notice, ctx, `kill-switch-${data.chain.seq + noted.events.length}`);
  return { data: killed.data, events: [...noted.events, ...killed.events] };
}

/** The verified signer of the operator's command, as every signed control command's entry carries it. */
const signedBy = (notice: KillSwitchNotice) => (notice.signedBy ? { signedBy: notice.signedBy } : {});

/**
 * The `break_glass_used` entry for a trip or unblock, and whether it flags this session's commitment: an operator trip
 * always does, a deny-rate trip only in the session whose decision tripped it. `detectedBy` says who saw the crossing:
 * this session (its copy of the window) or the identity (every session's decisions).
 */
export function killSwitchNoticeChange(
  data: SessionData,
  notice: KillSwitchNotice,
  detectedBy: 'session' | 'identity',
): Change {
  if (notice.event === 'unblocked')
    return {
      data,
      events: [
        event('break_glass_used', notice.agentDid, {
          reason: BREAK_GLASS.unblocked,
          agent_id: notice.agentDid,
          authorized_by: notice.authorizedBy,
          operator_reason: notice.reason,
          ...signedBy(notice),
        }),
      ],
    };
  const denyRate = notice.trigger === 'deny_rate';
  const flagged = !denyRate || notice.trippingSessionId === data.sessionId;
  return {
    data: flagged ? { ...data, killSwitchTriggered: true } : data,
    events: [
      event('break_glass_used', notice.agentDid, {
        reason: denyRate ? BREAK_GLASS.triggered : BREAK_GLASS.operatorTrip,
        agent_id: notice.agentDid,
        deny_rate_window_seconds: notice.windowSeconds,
        tripping_decision: notice.decisionId,
        authorized_by: notice.authorizedBy,
        ...(denyRate ? { detected_by: detectedBy } : { operator_reason: notice.reason }),
        ...signedBy(notice),
      }),
    ],
  };
}

/** A tripped kill switch kills the agent in this session, if it is still active here. */
function killSwitchKill(data: SessionData, notice: KillSwitchNotice, ctx: OpContext, killId: string): Change {
  if (notice.event !== 'tripped' || data.participants[notice.agentDid]?.status !== 'active')
    return { data, events: [] };
  const denyRate = notice.trigger === 'deny_rate';
  return killAgent(
    data,
    {
      killId,
      agentDid: notice.agentDid,
      reason: denyRate ? 'behavioral_drift' : 'manual',
      authorizedBy: notice.authorizedBy ?? 'did:hypervisor:kill-switch',
      details: denyRate ? 'deny-rate kill switch tripped' : `kill switch tripped by operator: ${notice.reason}`,
    },
    ctx,
  );
}
