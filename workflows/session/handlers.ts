import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import { ElevationRequest } from '../../domain/elevation.js';
import { ErrorType, hvError } from '../../domain/errors.js';
import { rememberSaga } from '../../domain/internal-binding.js';
import { KillSwitchNotice } from '../../domain/kill-switch.js';
import type { Vouch } from '../../domain/liability.js';
import { RecordSagaEventInput, StartSagaInput } from '../../domain/saga-types.js';
import * as model from '../../domain/session/index.js';
import {
  AcquireLockInput,
  ActivateSessionInput,
  AuditTailInput,
  ApproveJoinInput,
  AuthorizeInput,
  DeleteStateInput,
  JoinSessionInput,
  KillAgentInput,
  LeaveSessionInput,
  ListStateInput,
  LocksFilter,
  QuarantineInput,
  ReadStateInput,
  ReleaseLockInput,
  ReleaseQuarantineInput,
  RestoreInput,
  RevokeElevationInput,
  SetPermissionsInput,
  SnapshotInput,
  TerminateSessionInput,
  VouchInput,
  WriteStateInput,
  type JoinResult,
  type JoinStanding,
  type Quarantine,
  type SessionCommitment,
  type SessionData,
} from '../../domain/session-types.js';
import { parseInput } from '../../domain/validation.js';
import { killSwitch, liability } from '../activity-proxies.js';
import * as msg from '../messages.js';
import { sagaWorkflow } from '../saga/workflow.js';
import { guard } from './errors.js';
import {
  reducerUpdate,
  registerSignal,
  registerUpdate,
  type AuditGate,
  type ControlSpec,
  type SignalSpec,
  type UpdateSpec,
} from './register.js';
import { registerInternalSignals } from './internal.js';
import type { SessionRun } from './run.js';

/** Control commands signed by an operator (docs/DESIGN.md §13); the signer is the one who authorizes. */
const byOperator: ControlSpec = { actor: 'authorizedBy' };
/** An approval is a control command when it is given in an operator's name (an agent's own approval is not). */
const approvalBy = (actor: 'approverDid' | 'approvedBy'): ControlSpec => ({
  actor,
  requiredFor: (data, args) => typeof args[actor] === 'string' && model.isOperator(data, args[actor]),
});

/** Join reads the identity's standing (liability ledger, kill switch) first; a refusal on standing is recorded. */
const join = (run: SessionRun): UpdateSpec<typeof JoinSessionInput, JoinResult, JoinStanding> => ({
  def: msg.joinSessionUpdate,
  schema: JoinSessionInput,
  what: 'join',
  gate: 'gated',
  dryRun: model.joinSession,
  prepare: async (i) => {
    const admission = await killSwitch.admitAgent({ agentDid: i.agentDid, sessionId: run.data.sessionId });
    return { ...admission.standing, killSwitch: admission.killSwitch };
  },
  handle: (i, standing) => {
    try {
      const out = guard(() => model.joinSession(run.data, i, run.ctx(), standing));
      run.apply(out);
      return out.result;
    } catch (err) {
      const denied =
        err instanceof wf.ApplicationFailure && model.joinDeniedEvent(err.type ?? '', i.agentDid, standing);
      if (denied) run.record([denied]);
      throw err;
    }
  },
});

/** The identity's kill switch tripped (deny rate or operator), was lifted or reconfigured (domain/session/kill-switch.ts). */
export const killSwitchNotice: SignalSpec<typeof KillSwitchNotice> = {
  def: msg.killSwitchNoticeSignal,
  schema: KillSwitchNotice,
  what: 'kill switch notice',
  reducer: model.applyKillSwitchNotice,
};

/** Quarantine also enters the agent's ledger (once: only when it was not already quarantined). */
const quarantine = (run: SessionRun): UpdateSpec<typeof QuarantineInput, Quarantine> => ({
  def: msg.quarantineAgentUpdate,
  schema: QuarantineInput,
  what: 'quarantine',
  gate: 'open',
  control: byOperator,
  dryRun: model.quarantineAgent,
  handle: async (i) => {
    const out = guard(() => model.quarantineAgent(run.data, i, run.ctx()));
    run.apply(out);
    if (out.events.length > 0)
      await liability.appendLedgerEntry({
        key: `${run.data.sessionId}/quarantine/${out.result.quarantineId}`,
        agentDid: out.result.agentDid,
        entryType: 'quarantine_entered',
        sessionId: run.data.sessionId,
        details: { reason: out.result.reason, untilMs: out.result.untilMs, onTimeout: out.result.onTimeout },
      });
    return out.result;
  },
});

/** A vouch's bond is also written to the liability ledger before the update answers. */
const vouch = (run: SessionRun): UpdateSpec<typeof VouchInput, Vouch> => ({
  def: msg.vouchUpdate,
  schema: VouchInput,
  what: 'vouch',
  gate: 'gated',
  dryRun: model.vouchFor,
  handle: async (i) => {
    const out = guard(() => model.vouchFor(run.data, i, run.ctx()));
    run.apply(out);
    await liability.recordVouch({ vouch: out.result });
    return out.result;
  },
});

/** A kill answers once the agent's in-flight saga steps are handed off (when the session has sagas running). */
const requestKill = (run: SessionRun): UpdateSpec<typeof KillAgentInput, model.KillResult> => ({
  def: msg.requestKillUpdate,
  schema: KillAgentInput,
  what: 'kill',
  gate: 'open',
  control: byOperator,
  dryRun: model.killAgent,
  handle: async (i) => {
    const out = guard(() => model.killAgent(run.data, i, run.ctx()));
    const { handOffResults, activeSagas } = run.followUps;
    const { killId } = out.result;
    const handsOff = out.result.applied && activeSagas.size > 0;
    if (handsOff) handOffResults.set(killId, null);
    run.apply(out);
    if (!handsOff) return out.result;
    await wf.condition(() => handOffResults.get(killId) != null);
    const steps = handOffResults.get(killId)!;
    handOffResults.delete(killId);
    return { ...out.result, steps };
  },
});

/** Terminate answers with the commitment as stored (and signed): the caller can verify the chain at once. */
const terminate = (run: SessionRun): UpdateSpec<typeof TerminateSessionInput, SessionCommitment> => ({
  def: msg.terminateSessionUpdate,
  schema: TerminateSessionInput,
  what: 'termination',
  gate: 'open',
  control: byOperator,
  dryRun: model.beginTermination,
  handle: async (i) => {
    guard(() => run.close(i));
    await wf.condition(() => run.committed);
    return run.commitment!;
  },
});

/** Sagas report their steps here, so they land in this session's chain like every other governance event. */
const recordSagaEvent = (run: SessionRun): SignalSpec<typeof RecordSagaEventInput> => ({
  def: msg.recordSagaEventSignal,
  schema: RecordSagaEventInput,
  what: 'saga event',
  reducer: (d, e) => {
    const { activeSagas } = run.followUps;
    if (e.kind === 'saga_started') activeSagas.add(e.sagaId);
    if (model.SAGA_END_KINDS.includes(e.kind)) activeSagas.delete(e.sagaId);
    return { data: d, events: [model.sagaEventEntry(e)] };
  },
});

/** A saga of this session runs as a child workflow, abandoned on close so continue-as-new does not end it. */
const startSaga = (run: SessionRun): UpdateSpec<typeof StartSagaInput, { sagaId: string; workflowId: string }> => ({
  def: msg.startSagaUpdate,
  schema: StartSagaInput,
  what: 'saga start',
  gate: 'gated',
  dryRun: model.checkSagaStart,
  handle: async (input) => {
    const i = guard(() => model.checkSagaStart(run.data, input));
    const sagaId = i.sagaId ?? i.parsed.saga_id ?? wf.uuid4();
    const workflowId = msg.sagaWorkflowId(sagaId);
    // Known before it starts: its first report may arrive in the same activation as the start's confirmation.
    if (run.trust.enforced)
      rememberSaga(
        run.knownSagas,
        sagaId,
        i.parsed.steps.map((s) => ({ stepId: s.id, agentDid: s.agent })),
      );
    try {
      await wf.startChild(sagaWorkflow, {
        workflowId,
        args: [{ sagaId, definition: i.definition, options: i.options ?? {} }],
        parentClosePolicy: 'ABANDON',
        staticSummary: `saga ${i.parsed.name} of session ${run.data.sessionId}`,
      });
    } catch (err) {
      delete run.knownSagas[sagaId];
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw hvError(ErrorType.InvalidInput, `saga id ${sagaId} is already used`, { sagaId });
      throw err;
    }
    run.record([{ kind: 'saga_launched', agentDid: null, payload: { sagaId, workflowId, name: i.parsed.name } }]);
    return { sagaId, workflowId };
  },
});

/**
 * The session's handler table, in registration order. Every update and signal goes through `registerUpdate` or
 * `registerSignal`; the audit gate of each update is stated here (`AuditGate` says why some are open).
 */
export function registerHandlers(run: SessionRun): void {
  const update = <S extends z.ZodType, R>(
    def: UpdateSpec<S, R>['def'],
    schema: S,
    what: string,
    gate: AuditGate,
    reducer: (d: SessionData, i: z.output<S>, c: model.OpContext) => model.OpResult<R>,
    control?: ControlSpec,
  ) => registerUpdate(run, { ...reducerUpdate(run, def, schema, what, gate, reducer), control });
  const signal = <S extends z.ZodType>(
    def: SignalSpec<S>['def'],
    schema: S,
    what: string,
    reducer: SignalSpec<S>['reducer'],
    control?: ControlSpec,
  ) => registerSignal(run, { def, schema, what, reducer, control });

  registerUpdate(run, join(run));
  registerUpdate(run, quarantine(run));
  update(
    msg.releaseQuarantineUpdate,
    ReleaseQuarantineInput,
    'quarantine release',
    'gated',
    model.releaseQuarantine,
    byOperator,
  );
  registerUpdate(run, vouch(run));
  update(msg.approveJoinUpdate, ApproveJoinInput, 'approval', 'gated', model.approveJoin, approvalBy('approverDid'));
  update(msg.leaveSessionUpdate, LeaveSessionInput, 'leave', 'gated', model.leaveSession);
  // Not an operator command (issue 13's list): the creator activates, as an agent through the HTTP API too.
  update(msg.activateSessionUpdate, ActivateSessionInput, 'activation', 'gated', (d, i) => model.activateSession(d, i));
  update(msg.authorizeActionUpdate, AuthorizeInput, 'authorization request', 'gated', model.authorizeAction);
  const elevation = approvalBy('approvedBy');
  update(msg.requestElevationUpdate, ElevationRequest, 'elevation request', 'gated', model.elevateAgent, elevation);
  signal(msg.elevateAgentSignal, ElevationRequest, 'elevation request', model.elevateAgent, elevation);
  update(msg.requestRevocationUpdate, RevokeElevationInput, 'revocation', 'gated', model.revokeElevation, byOperator);
  signal(msg.revokeElevationSignal, RevokeElevationInput, 'revocation', model.revokeElevation, byOperator);
  registerUpdate(run, requestKill(run));
  signal(msg.killAgentSignal, KillAgentInput, 'kill', model.killAgent, byOperator);
  update(msg.writeStateUpdate, WriteStateInput, 'state write', 'gated', model.writeSharedState);
  update(msg.readStateUpdate, ReadStateInput, 'state read', 'open', (d, i) => model.readSharedState(d, i));
  update(msg.deleteStateUpdate, DeleteStateInput, 'state delete', 'gated', model.deleteSharedState);
  update(msg.setStatePermissionsUpdate, SetPermissionsInput, 'permission change', 'gated', model.setStatePermissions);
  update(msg.snapshotStateUpdate, SnapshotInput, 'snapshot', 'gated', model.snapshotSharedState);
  update(msg.restoreStateUpdate, RestoreInput, 'restore', 'gated', model.restoreSharedState);
  update(msg.acquireLockUpdate, AcquireLockInput, 'lock request', 'gated', model.acquireLock);
  update(msg.releaseLockUpdate, ReleaseLockInput, 'lock release', 'gated', model.releaseSessionLock);
  registerUpdate(run, terminate(run));
  // Signed or bound to the session's own state (internal.ts): kill-switch notices, saga events and registrations.
  registerInternalSignals(run, killSwitchNotice, recordSagaEvent(run));
  run.operators.registerRefresh();
  registerUpdate(run, startSaga(run));

  wf.setHandler(msg.getSessionStateQuery, () => {
    const { runId, historyLength } = wf.workflowInfo();
    return model.sessionView(run.data, run.audit.status(), { runId, historyLength }, Date.now());
  });
  // A query with a bad argument fails with InvalidInput; it changes nothing either way.
  wf.setHandler(msg.listStateQuery, (raw) =>
    model.listSharedState(run.data, parseInput(ListStateInput, raw, 'list request')),
  );
  wf.setHandler(msg.getLocksQuery, (raw) =>
    model.sessionLocks(run.data, parseInput(LocksFilter, raw ?? {}, 'lock filter')),
  );
  wf.setHandler(msg.getAuditTailQuery, (raw) =>
    run.audit.tail(parseInput(AuditTailInput, raw ?? {}, 'tail request').limit),
  );
}
