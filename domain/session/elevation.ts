import { grantElevation, type Elevation, type ElevationRequest } from '../elevation.js';
import { ErrorType, hvError } from '../errors.js';
import { RING_LABELS } from '../rings.js';
import type { Participant, RevokeElevationInput, SessionData } from '../session-types.js';
import { assertState, event, isOperator, OPEN_STATES, type OpContext, type OpResult, type Parsed } from './context.js';
import { activeElevation, effectiveRingOf, requireActive, requireParticipant } from './participants.js';

/** The approver must be a session operator or an active participant already at the target ring or better. */
function assertApproverAuthority(
  data: SessionData,
  participant: Participant,
  request: ElevationRequest,
  nowMs: number,
) {
  const approver = request.approvedBy;
  if (approver === undefined || isOperator(data, approver)) return;
  const approving = data.participants[approver];
  if (approving && approving.status === 'active' && effectiveRingOf(data, approving, nowMs) <= request.targetRing)
    return;
  throw hvError(
    ErrorType.ElevationDenied,
    `Ring elevation denied: ${RING_LABELS[participant.ring]} -> ${RING_LABELS[request.targetRing]}\n` +
      `  Reason: approver ${approver} is neither a session operator nor an active participant at ${RING_LABELS[request.targetRing]} or better`,
    { reason: 'approver_not_authorized', agentDid: request.agentDid, approvedBy: approver },
  );
}

/** Sudo with a TTL: raises the agent's effective ring until the elevation expires or is revoked. */
export function elevateAgent(data: SessionData, request: ElevationRequest, ctx: OpContext): OpResult<Elevation> {
  assertState(data, OPEN_STATES, 'elevating');
  const participant = requireActive(data, request.agentDid);
  if (data.quarantines?.[request.agentDid])
    throw hvError(ErrorType.AgentQuarantined, `agent ${request.agentDid} is quarantined and cannot be elevated`, {
      agentDid: request.agentDid,
    });
  // The domain rules (target, witness, duplicate, trust, approval present) take precedence over approver authority.
  const elevation = grantElevation({
    request,
    elevationId: `elev:${ctx.newId()}`,
    baseRing: participant.ring,
    effScore: participant.effScore,
    active: activeElevation(data, request.agentDid, ctx.nowMs),
    nowMs: ctx.nowMs,
  });
  assertApproverAuthority(data, participant, request, ctx.nowMs);
  return {
    data: { ...data, elevations: { ...data.elevations, [request.agentDid]: elevation } },
    result: elevation,
    events: [
      event('elevation_granted', request.agentDid, {
        elevationId: elevation.elevationId,
        fromRing: elevation.fromRing,
        toRing: elevation.toRing,
        expiresAtMs: elevation.expiresAtMs,
        reason: elevation.reason,
        approvedBy: elevation.approvedBy,
        attestation: elevation.attestation,
      }),
    ],
  };
}

/** Ends an active elevation early; revoking none is not an error (`revoked: null`). */
export function revokeElevation(
  data: SessionData,
  input: Parsed<typeof RevokeElevationInput>,
  ctx: OpContext,
): OpResult<{ revoked: Elevation | null }> {
  requireParticipant(data, input.agentDid);
  const elevation = activeElevation(data, input.agentDid, ctx.nowMs);
  if (!elevation) return { data, result: { revoked: null }, events: [] };
  const elevations = { ...data.elevations };
  delete elevations[input.agentDid];
  return {
    data: { ...data, elevations },
    result: { revoked: elevation },
    events: [
      event('elevation_revoked', input.agentDid, {
        elevationId: elevation.elevationId,
        why: input.reason,
        authorizedBy: input.authorizedBy ?? null,
      }),
    ],
  };
}
