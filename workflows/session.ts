import { WorkflowExecutionAlreadyStartedError, type SignalDefinition, type UpdateDefinition } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import { appendEntry, type ChainedEntry } from '../domain/audit-chain.js';
import { ElevationRequest } from '../domain/elevation.js';
import { ErrorType, hvError } from '../domain/errors.js';
import { HvAgentIds, HvSessionId, HvSessionState } from '../domain/search-attributes.js';
import * as model from '../domain/session-model.js';
import {
  AcquireLockInput,
  ActivateSessionInput,
  ApproveJoinInput,
  AuthorizeInput,
  CreateSessionInput,
  DeleteStateInput,
  JoinSessionInput,
  KillAgentInput,
  LeaveSessionInput,
  ListStateInput,
  ReadStateInput,
  ReleaseLockInput,
  RestoreInput,
  RevokeElevationInput,
  SetPermissionsInput,
  SnapshotInput,
  TerminateSessionInput,
  QuarantineInput,
  ReleaseQuarantineInput,
  VouchInput,
  WriteStateInput,
  type SessionCommitment,
  type SessionData,
  type SessionEvent,
  type SessionView,
} from '../domain/session-types.js';
import { BREAK_GLASS } from '../domain/kill-switch.js';
import { parseSagaDefinition, type SagaDefinitionInput } from '../domain/saga-dsl.js';
import { RecordSagaEventInput, StartSagaInput } from '../domain/saga-types.js';
import { parseInput } from '../domain/validation.js';
import { audit, killSwitch, liability, sagaControl } from './activity-proxies.js';
import { sagaWorkflow } from './saga.js';
import * as msg from './messages.js';

/**
 * Entries recorded but not yet acknowledged by the audit store, carried through continue-as-new so none is lost. A
 * fault (the store holds a conflicting chain) stops persistence and freezes the session's governance updates.
 */
export interface AuditOutbox {
  pending: ChainedEntry[];
  persistedSeq: number;
  fault: string | null;
}

/** Start arguments: a new session, or the state carried over by continue-as-new. */
export type SessionWorkflowInput = CreateSessionInput & {
  carried?: SessionData;
  recent?: ChainedEntry[];
  audit?: AuditOutbox;
  /** Follow-ups decided by recorded events but not yet carried out. */
  followUps?: FollowUp[];
  activeSagas?: string[];
};

/** A slash the session decided (ring breach, kill, escalated saga) and applies through the liability ledger. */
export interface SlashRequest {
  slashId: string;
  culpritDid: string;
  culpritSigma: number;
  reason: string;
}

/**
 * Work a recorded event calls for, done through activities in order after the event: a slash, or handing a killed
 * agent's in-flight saga steps to a substitute. Whatever caused the event (an operator's kill, a ring breach, the kill
 * switch, a quarantine timeout), the follow-up is the same.
 */
export type FollowUp =
  | { kind: 'slash'; slash: SlashRequest }
  | { kind: 'handoff'; killId: string; agentDid: string; substituteDid: string | null };

/** Audit entries kept in workflow memory for the `getAuditTail` query (the full chain lives in the audit store). */
const RECENT_ENTRIES = 100;
const RECENT_CARRIED = 20;
/** Links per insert: one round trip and one commit for up to this many rows (perf-reliability §2.3, pattern F). */
export const AUDIT_BATCH_SIZE = 200;
/**
 * Unpersisted entries a session accepts before it refuses new governance updates. The outbox is carried through
 * continue-as-new, so it must stay well below Temporal's payload limit; during a database outage the session fails
 * closed instead of growing without bound.
 */
export const MAX_AUDIT_BACKLOG = 1000;
const FLUSH_WAIT_BEFORE_CAN = '30 seconds';

/**
 * One long-running workflow per shared session (DESIGN §3.1). All governance state lives in one JSON object, changed
 * only through the pure functions of `domain/session-model.ts`. Every update has a validator that runs the same
 * function on the current state and discards the result, so a request that would fail is rejected before it is
 * written to history, and the handler that follows (same state, same activation) cannot fail differently.
 */
export async function sessionWorkflow(input: SessionWorkflowInput): Promise<SessionCommitment> {
  const info = wf.workflowInfo();
  let data: SessionData =
    input.carried ?? model.createSessionData(parseInput(CreateSessionInput, input, 'session'), Date.now());
  const recent: ChainedEntry[] = [...(input.recent ?? [])];
  const outbox: AuditOutbox = input.audit
    ? { ...input.audit, pending: [...input.audit.pending] }
    : { pending: [], persistedSeq: 0, fault: null };
  let commitment: SessionCommitment | undefined;
  let committed = false;
  let flushing = false;
  const followUps: FollowUp[] = [...(input.followUps ?? [])];
  let followingUp = false;
  /** Hand-off outcomes a `requestKill` update is waiting for, by kill id. */
  const handOffResults = new Map<string, NonNullable<model.KillResult['steps']> | null>();
  /** Sagas of this session still running (from their own reports): a kill hands their steps off. */
  const activeSagas = new Set<string>(input.activeSagas ?? []);
  /** Set when this run is about to continue as new: no new batch starts, the next run takes the outbox. */
  let handingOver = false;

  const record = (events: SessionEvent[]): void => {
    for (const e of events) {
      if (!data.config.enableAudit && isRoutineAllow(e)) continue;
      const { head, chained } = appendEntry(data.chain, {
        sessionId: data.sessionId,
        kind: e.kind,
        agentDid: e.agentDid,
        payload: e.payload,
        recordedAtMs: Date.now(),
        workflowId: info.workflowId,
        runId: info.runId,
      });
      data = { ...data, chain: head };
      recent.push(chained);
      outbox.pending.push(chained);
      followUps.push(...followUpsOf(e));
      if (e.kind === 'decision' && e.agentDid) tellAgent(e.agentDid, e, head.seq);
    }
    if (recent.length > RECENT_ENTRIES) recent.splice(0, recent.length - RECENT_ENTRIES);
  };
  /**
   * Every decision reaches the agent's identity workflow, which keeps the deny-rate window across all its sessions.
   * Fire and forget: a missing agent workflow (anonymous identity, older session) changes nothing here.
   */
  const tellAgent = (agentDid: string, e: SessionEvent, seq: number): void => {
    const allowed = (e.payload as { allowed?: boolean }).allowed === true;
    wf.getExternalWorkflowHandle(msg.agentWorkflowId(agentDid))
      .signal(msg.recordDecisionSignal, {
        kind: allowed ? 'allow' : 'deny',
        sessionId: data.sessionId,
        decisionId: `${data.sessionId}#${seq}`,
      })
      .catch(() => undefined);
  };

  /** What a recorded event calls for: a kill hands its agent's saga steps off first, then any slash policy applies. */
  const followUpsOf = (e: SessionEvent): FollowUp[] => {
    const out: FollowUp[] = [];
    const p = (e.payload ?? {}) as Record<string, unknown>;
    if (e.kind === 'kill' && e.agentDid && activeSagas.size > 0)
      out.push({
        kind: 'handoff',
        killId: String(p.killId),
        agentDid: e.agentDid,
        substituteDid:
          typeof p.substituteDid === 'string'
            ? p.substituteDid
            : (model.registeredSubstitute(data, e.agentDid, Date.now()) ?? null),
      });
    const slash = slashFor(e);
    if (slash) out.push({ kind: 'slash', slash });
    return out;
  };

  /** The slash a recorded event calls for under the session's `slashOn` policy, if any. */
  const slashFor = (e: SessionEvent): SlashRequest | null => {
    const p = (e.payload ?? {}) as Record<string, unknown>;
    const sigmaOf = (did: string) => data.participants[did]?.sigmaRaw ?? 0;
    if (e.kind === 'kill' && e.agentDid) {
      const trigger = p.reason === 'ring_breach' ? 'ring_breach' : 'kill';
      if (!data.config.slashOn.includes(trigger)) return null;
      return {
        slashId: `${data.sessionId}/kill/${String(p.killId)}`,
        culpritDid: e.agentDid,
        culpritSigma: sigmaOf(e.agentDid),
        reason: String(p.reason),
      };
    }
    if (
      e.kind === 'saga_escalated' &&
      typeof p.rootCause === 'string' &&
      data.config.slashOn.includes('saga_escalated')
    )
      return {
        slashId: `${String(p.sagaId)}/slash`,
        culpritDid: p.rootCause,
        culpritSigma: sigmaOf(p.rootCause),
        reason: 'saga_escalated',
      };
    return null;
  };

  /** Carries out follow-ups one at a time, in the order their events were recorded; each outcome is recorded too. */
  const runFollowUps = async (): Promise<void> => {
    for (;;) {
      // While the run hands over, only a hand-off an update is waiting for may start; the rest waits for the next run.
      await wf.condition(() => followUps.length > 0 && (!handingOver || handOffResults.size > 0));
      const next = followUps[0]!;
      followingUp = true;
      try {
        if (next.kind === 'slash') await applySlash(next.slash);
        else await handOff(next);
      } finally {
        followUps.shift();
        followingUp = false;
      }
    }
  };

  const applySlash = async (slash: SlashRequest): Promise<void> => {
    try {
      const changes = await liability.slashAgent({
        ...slash,
        sessionId: data.sessionId,
        policy: data.config.liability,
        nowMs: Date.now(),
      });
      record([
        {
          kind: 'slash',
          agentDid: slash.culpritDid,
          payload: {
            slashId: slash.slashId,
            reason: slash.reason,
            changes: changes.map((c) => ({
              agentDid: c.agentDid,
              kind: c.kind,
              before: c.before / 1e6,
              after: c.after / 1e6,
            })),
          },
        },
      ]);
    } catch (err) {
      record([{ kind: 'slash_failed', agentDid: slash.culpritDid, payload: { ...slash, error: failureMessage(err) } }]);
    }
  };

  /**
   * Hands the killed agent's in-flight saga steps to the substitute (or fails them) in every saga of this session
   * that is still running, and records what became of each step.
   */
  const handOff = async (h: Extract<FollowUp, { kind: 'handoff' }>): Promise<void> => {
    const steps: NonNullable<model.KillResult['steps']> = [];
    try {
      for (const sagaId of [...activeSagas])
        steps.push(
          ...(await sagaControl.handOffAgentSteps({
            sagaId,
            agentDid: h.agentDid,
            substituteDid: h.substituteDid ?? undefined,
            killId: h.killId,
          })),
        );
    } catch (err) {
      record([
        {
          kind: 'kill_handoff_failed',
          agentDid: h.agentDid,
          payload: { killId: h.killId, error: failureMessage(err) },
        },
      ]);
    }
    if (steps.length > 0)
      record([{ kind: 'kill_handoff', agentDid: h.agentDid, payload: { killId: h.killId, steps } }]);
    if (handOffResults.has(h.killId)) handOffResults.set(h.killId, steps);
  };

  /** Applies expiries that are due (elevations, locks) before anything reads them. */
  const sweep = (): void => {
    const expired = model.expireTimers(data, Date.now());
    data = expired.data;
    record(expired.events);
  };
  const ctx = (): model.OpContext => ({ nowMs: Date.now(), newId: () => wf.uuid4() });
  // Validators must not consume the workflow's random sequence: their ids are thrown away.
  const dryCtx = (): model.OpContext => ({ nowMs: Date.now(), newId: () => 'dry-run' });

  /** Governance changes stop while the audit store cannot take their entries (fail closed, never drop an entry). */
  const assertAuditAvailable = (): void => {
    if (outbox.fault)
      throw hvError(ErrorType.AuditUnavailable, `session ${data.sessionId} is frozen: ${outbox.fault}`, {
        sessionId: data.sessionId,
      });
    if (outbox.pending.length >= MAX_AUDIT_BACKLOG)
      throw hvError(
        ErrorType.AuditUnavailable,
        `audit store unavailable: ${outbox.pending.length} entries of session ${data.sessionId} await persistence; retry later`,
        { sessionId: data.sessionId, pending: outbox.pending.length },
      );
  };

  /** Hands recorded entries to the audit store in order, one batch at a time, for the life of this run. */
  const persistAudit = async (): Promise<void> => {
    for (;;) {
      await wf.condition(() => outbox.pending.length > 0 && outbox.fault === null && !handingOver);
      const batch = outbox.pending.slice(0, AUDIT_BATCH_SIZE);
      flushing = true;
      try {
        await audit.appendAuditEntries({
          sessionId: data.sessionId,
          entries: batch,
          checkpoint: data.config.enableBlockchainCommitment,
        });
        // Entries are only ever appended behind the batch, so the batch is still the head of the outbox.
        outbox.pending.splice(0, batch.length);
        outbox.persistedSeq = batch[batch.length - 1]!.entry.seq;
      } catch (err) {
        // Only non-retryable failures get here: a conflicting chain under this session id.
        outbox.fault = `audit entry ${batch[0]!.entry.seq} could not be persisted: ${failureMessage(err)}`;
        wf.log.error('audit persistence stopped', { sessionId: data.sessionId, fault: outbox.fault });
      } finally {
        flushing = false;
      }
    }
  };

  /**
   * Registers an update whose validator dry-runs `op`. A non-Temporal error escaping the handler would fail the
   * workflow task and retry it forever; it is turned into a failed update instead, so a bug never wedges a session.
   */
  function onUpdate<S extends z.ZodType, R>(
    def: UpdateDefinition<R, [z.input<S>]>,
    schema: S,
    what: string,
    op: (
      d: SessionData,
      i: z.output<S>,
      c: model.OpContext,
    ) => { data: SessionData; result: R; events: SessionEvent[] },
    readOnly = false,
  ): void {
    wf.setHandler(
      def,
      (raw) => {
        sweep();
        const out = guard(() => op(data, parseInput(schema, raw, what), ctx()));
        data = out.data;
        record(out.events);
        return out.result;
      },
      // The validator sees the same swept state the handler will, so both reach the same verdict.
      {
        validator: (raw) => {
          if (!readOnly) assertAuditAvailable();
          void op(model.expireTimers(data, Date.now()).data, parseInput(schema, raw, what), dryCtx());
        },
      },
    );
  }

  /** Signals cannot be rejected: invalid ones are logged and dropped, valid ones applied like the update variant. */
  function onSignal<S extends z.ZodType>(
    def: SignalDefinition<[z.input<S>]>,
    schema: S,
    what: string,
    op: (d: SessionData, i: z.output<S>, c: model.OpContext) => { data: SessionData; events: SessionEvent[] },
  ): void {
    wf.setHandler(def, (raw) => {
      try {
        sweep();
        const out = op(data, parseInput(schema, raw, what), ctx());
        data = out.data;
        record(out.events);
      } catch (err) {
        wf.log.warn(`ignored ${what} signal`, { error: (err as Error).message });
        record([{ kind: `${def.name}_rejected`, agentDid: null, payload: { error: (err as Error).message } }]);
      }
    });
  }

  /** Ends the session: release everything, record the last entries, then commit to the chain head. */
  const closeSession = (i: z.output<typeof TerminateSessionInput>): SessionCommitment => {
    const started = model.beginTermination(data, i, ctx());
    data = started.data;
    record(started.events);
    record([{ kind: 'session_archived', agentDid: null, payload: { reason: i.reason } }]);
    const archived = model.archiveSession(data);
    data = archived.data;
    commitment = archived.commitment;
    return commitment;
  };

  // First, before any handler exists: registering a handler runs the messages buffered for it on the spot, and their
  // entries must follow the session's first entry.
  if (!input.carried)
    record([{ kind: 'session_created', agentDid: data.creatorDid, payload: { config: data.config } }]);
  void persistAudit();
  void runFollowUps();

  // Every handler is registered before the first await, so messages delivered with the first task find them.
  // Join consults the liability ledger (an activity), so its handler is async; the validator checks everything else.
  wf.setHandler(
    msg.joinSessionUpdate,
    async (raw) => {
      const i = parseInput(JoinSessionInput, raw, 'join');
      const admission = await killSwitch.admitAgent({ agentDid: i.agentDid, sessionId: data.sessionId });
      const standing = { ...admission.standing, killSwitch: admission.killSwitch };
      sweep();
      try {
        const out = guard(() => model.joinSession(data, i, ctx(), standing));
        data = out.data;
        record(out.events);
        return out.result;
      } catch (err) {
        if (err instanceof wf.ApplicationFailure && err.type === ErrorType.KillSwitchTripped)
          record([{ kind: 'join_denied', agentDid: i.agentDid, payload: { reason: 'kill_switch_tripped' } }]);
        if (err instanceof wf.ApplicationFailure && err.type === ErrorType.StandingDenied)
          record([
            {
              kind: 'join_denied',
              agentDid: i.agentDid,
              payload: { reason: 'standing', riskScore: standing.riskScore, blacklisted: standing.blacklisted },
            },
          ]);
        throw err;
      }
    },
    {
      validator: (raw) => {
        assertAuditAvailable();
        void model.joinSession(
          model.expireTimers(data, Date.now()).data,
          parseInput(JoinSessionInput, raw, 'join'),
          dryCtx(),
        );
      },
    },
  );
  // The identity's kill switch tripped (deny rate or operator) or was lifted: record it, and kill the agent here.
  wf.setHandler(msg.killSwitchNoticeSignal, (notice) => {
    sweep();
    if (notice.event === 'unblocked') {
      record([
        {
          kind: 'break_glass_used',
          agentDid: notice.agentDid,
          payload: {
            reason: BREAK_GLASS.unblocked,
            agent_id: notice.agentDid,
            authorized_by: notice.authorizedBy,
            operator_reason: notice.reason,
          },
        },
      ]);
      return;
    }
    const denyRate = notice.trigger === 'deny_rate';
    record([
      {
        kind: 'break_glass_used',
        agentDid: notice.agentDid,
        payload: {
          reason: denyRate ? BREAK_GLASS.triggered : BREAK_GLASS.operatorTrip,
          agent_id: notice.agentDid,
          deny_rate_window_seconds: notice.windowSeconds,
          tripping_decision: notice.decisionId,
          authorized_by: notice.authorizedBy,
          ...(denyRate ? {} : { operator_reason: notice.reason }),
        },
      },
    ]);
    if (!denyRate || notice.trippingSessionId === data.sessionId) data = { ...data, killSwitchTriggered: true };
    const participant = data.participants[notice.agentDid];
    if (participant && participant.status === 'active') {
      try {
        const out = model.killAgent(
          data,
          {
            killId: `kill-switch-${data.chain.seq}`,
            agentDid: notice.agentDid,
            reason: denyRate ? 'behavioral_drift' : 'manual',
            authorizedBy: notice.authorizedBy ?? 'did:hypervisor:kill-switch',
            details: denyRate ? 'deny-rate kill switch tripped' : `kill switch tripped by operator: ${notice.reason}`,
          },
          ctx(),
        );
        data = out.data;
        record(out.events);
      } catch (err) {
        wf.log.warn('kill switch kill not applied', { error: (err as Error).message });
      }
    }
  });
  wf.setHandler(
    msg.quarantineAgentUpdate,
    async (raw) => {
      sweep();
      const out = guard(() => model.quarantineAgent(data, parseInput(QuarantineInput, raw, 'quarantine'), ctx()));
      data = out.data;
      record(out.events);
      if (out.events.length > 0)
        await liability.appendLedgerEntry({
          key: `${data.sessionId}/quarantine/${out.result.quarantineId}`,
          agentDid: out.result.agentDid,
          entryType: 'quarantine_entered',
          sessionId: data.sessionId,
          details: { reason: out.result.reason, untilMs: out.result.untilMs, onTimeout: out.result.onTimeout },
        });
      return out.result;
    },
    {
      validator: (raw) =>
        void model.quarantineAgent(
          model.expireTimers(data, Date.now()).data,
          parseInput(QuarantineInput, raw, 'quarantine'),
          dryCtx(),
        ),
    },
  );
  onUpdate(msg.releaseQuarantineUpdate, ReleaseQuarantineInput, 'quarantine release', model.releaseQuarantine);
  wf.setHandler(
    msg.vouchUpdate,
    async (raw) => {
      sweep();
      const out = guard(() => model.vouchFor(data, parseInput(VouchInput, raw, 'vouch'), ctx()));
      data = out.data;
      record(out.events);
      await liability.recordVouch({ vouch: out.result });
      return out.result;
    },
    {
      validator: (raw) => {
        assertAuditAvailable();
        void model.vouchFor(model.expireTimers(data, Date.now()).data, parseInput(VouchInput, raw, 'vouch'), dryCtx());
      },
    },
  );
  onUpdate(msg.approveJoinUpdate, ApproveJoinInput, 'approval', model.approveJoin);
  onUpdate(msg.leaveSessionUpdate, LeaveSessionInput, 'leave', model.leaveSession);
  onUpdate(msg.activateSessionUpdate, ActivateSessionInput, 'activation', (d, i) => model.activateSession(d, i));
  onUpdate(msg.authorizeActionUpdate, AuthorizeInput, 'authorization request', model.authorizeAction);
  onUpdate(msg.requestElevationUpdate, ElevationRequest, 'elevation request', model.elevateAgent);
  onSignal(msg.elevateAgentSignal, ElevationRequest, 'elevation request', model.elevateAgent);
  onUpdate(msg.requestRevocationUpdate, RevokeElevationInput, 'revocation', model.revokeElevation);
  onSignal(msg.revokeElevationSignal, RevokeElevationInput, 'revocation', model.revokeElevation);
  wf.setHandler(
    msg.requestKillUpdate,
    async (raw) => {
      sweep();
      const out = guard(() => model.killAgent(data, parseInput(KillAgentInput, raw, 'kill'), ctx()));
      data = out.data;
      const { killId } = out.result;
      const handsOff = out.result.applied && activeSagas.size > 0;
      if (handsOff) handOffResults.set(killId, null);
      record(out.events);
      if (!handsOff) return out.result;
      // The update answers with what became of the agent's saga steps.
      await wf.condition(() => handOffResults.get(killId) != null);
      const steps = handOffResults.get(killId)!;
      handOffResults.delete(killId);
      return { ...out.result, steps };
    },
    {
      validator: (raw) =>
        void model.killAgent(
          model.expireTimers(data, Date.now()).data,
          parseInput(KillAgentInput, raw, 'kill'),
          dryCtx(),
        ),
    },
  );
  onSignal(msg.killAgentSignal, KillAgentInput, 'kill', model.killAgent);
  onUpdate(msg.writeStateUpdate, WriteStateInput, 'state write', model.writeSharedState);
  onUpdate(msg.readStateUpdate, ReadStateInput, 'state read', (d, i) => model.readSharedState(d, i), true);
  onUpdate(msg.deleteStateUpdate, DeleteStateInput, 'state delete', model.deleteSharedState);
  onUpdate(msg.setStatePermissionsUpdate, SetPermissionsInput, 'permission change', model.setStatePermissions);
  onUpdate(msg.snapshotStateUpdate, SnapshotInput, 'snapshot', model.snapshotSharedState);
  onUpdate(msg.restoreStateUpdate, RestoreInput, 'restore', model.restoreSharedState);
  onUpdate(msg.acquireLockUpdate, AcquireLockInput, 'lock request', model.acquireLock);
  onUpdate(msg.releaseLockUpdate, ReleaseLockInput, 'lock release', model.releaseSessionLock);
  wf.setHandler(
    msg.terminateSessionUpdate,
    async (raw) => {
      sweep();
      guard(() => closeSession(parseInput(TerminateSessionInput, raw, 'termination')));
      // Answer with the commitment as stored (and signed): the caller can verify the chain as soon as this returns.
      await wf.condition(() => committed);
      return commitment!;
    },
    {
      validator: (raw) =>
        void model.beginTermination(data, parseInput(TerminateSessionInput, raw, 'termination'), dryCtx()),
    },
  );

  // Sagas report their steps here, so they land in this session's chain like every other governance event.
  onSignal(msg.recordSagaEventSignal, RecordSagaEventInput, 'saga event', (d, e) => {
    if (e.kind === 'saga_started') activeSagas.add(e.sagaId);
    if (['saga_completed', 'saga_compensated', 'saga_escalated', 'saga_failed'].includes(e.kind))
      activeSagas.delete(e.sagaId);
    return {
      data: d,
      events: [
        {
          kind: e.kind,
          agentDid: e.agentDid ?? null,
          payload: { ...e.details, sagaId: e.sagaId, stepId: e.stepId ?? null },
        },
      ],
    };
  });
  const startSagaChecked = (raw: unknown) => {
    const i = parseInput(StartSagaInput, raw, 'saga start');
    if (data.state !== 'active' && data.state !== 'handshaking')
      throw hvError(ErrorType.IllegalTransition, `session ${data.sessionId} is ${data.state}: it starts no sagas`, {
        sessionId: data.sessionId,
      });
    const given = i.definition.session_id;
    if (given !== undefined && given !== data.sessionId)
      throw hvError(
        ErrorType.InvalidInput,
        `the saga belongs to session ${JSON.stringify(given)}, not ${data.sessionId}`,
        {},
      );
    const definition: Record<string, unknown> = { ...i.definition, session_id: data.sessionId };
    const parsed = parseSagaDefinition(definition);
    return { ...i, definition, parsed };
  };
  wf.setHandler(
    msg.startSagaUpdate,
    async (raw) => {
      sweep();
      const i = guard(() => startSagaChecked(raw));
      const sagaId = i.sagaId ?? i.parsed.saga_id ?? wf.uuid4();
      const workflowId = msg.sagaWorkflowId(sagaId);
      try {
        // ABANDON: continue-as-new closes this run, and the default policy would terminate the saga with it.
        await wf.startChild(sagaWorkflow, {
          workflowId,
          args: [{ sagaId, definition: i.definition as SagaDefinitionInput, options: i.options ?? {} }],
          parentClosePolicy: 'ABANDON',
          staticSummary: `saga ${i.parsed.name} of session ${data.sessionId}`,
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw hvError(ErrorType.InvalidInput, `saga id ${sagaId} is already used`, { sagaId });
        throw err;
      }
      record([{ kind: 'saga_launched', agentDid: null, payload: { sagaId, workflowId, name: i.parsed.name } }]);
      return { sagaId, workflowId };
    },
    {
      validator: (raw) => {
        assertAuditAvailable();
        void startSagaChecked(raw);
      },
    },
  );

  wf.setHandler(msg.getSessionStateQuery, () => view(data, outbox));
  wf.setHandler(msg.listStateQuery, (raw) =>
    model.listSharedState(data, parseInput(ListStateInput, raw, 'list request')),
  );
  wf.setHandler(msg.getLocksQuery, (filter) => model.sessionLocks(data, filter ?? {}));
  wf.setHandler(msg.getAuditTailQuery, (args) =>
    recent.slice(-Math.max(1, Math.min(args?.limit ?? 20, RECENT_ENTRIES))),
  );

  let publishedAttributes = '';
  const publishSearchAttributes = (): void => {
    const agentIds = Object.keys(data.participants).sort();
    const key = `${data.state}|${agentIds.join(',')}`;
    if (key === publishedAttributes) return;
    publishedAttributes = key;
    wf.upsertSearchAttributes([
      { key: HvSessionId, value: data.sessionId },
      { key: HvSessionState, value: data.state },
      { key: HvAgentIds, value: agentIds },
    ]);
  };

  const archived = (): boolean => data.state === 'archived';
  while (!archived()) {
    publishSearchAttributes();
    const timerAt = model.nextDeadline(data);
    const stateAtSleep = data.state;
    const participantsAtSleep = Object.keys(data.participants).length;
    // One timer at a time, for the earliest expiry. Wake early only when that expiry moved earlier, the state or
    // membership changed (search attributes), or Temporal suggests continue-as-new.
    await wf.condition(
      () =>
        data.state !== stateAtSleep ||
        Object.keys(data.participants).length !== participantsAtSleep ||
        model.nextDeadline(data) < timerAt ||
        wf.workflowInfo().continueAsNewSuggested,
      Math.max(1, timerAt - Date.now()),
    );
    if (archived()) break;
    sweep();
    if (Date.now() >= data.deadlineMs) {
      closeSession({ reason: 'session_timeout' });
      break;
    }
    if (wf.workflowInfo().continueAsNewSuggested) {
      // A flush completing while this run closes would make the server reject the continue-as-new (UnhandledCommand)
      // and fail the updates in flight. Let it land first; during a database outage, go on without it after a while.
      // A kill update waiting for its hand-off keeps follow-ups running (see runFollowUps), so handlers can finish.
      handingOver = true;
      await wf.condition(() => wf.allHandlersFinished() && !flushing && !followingUp, FLUSH_WAIT_BEFORE_CAN);
      await wf.condition(wf.allHandlersFinished);
      return await wf.continueAsNew<typeof sessionWorkflow>({
        sessionId: data.sessionId,
        creatorDid: data.creatorDid,
        config: data.config,
        carried: data,
        recent: recent.slice(-RECENT_CARRIED),
        // A batch in flight stays in the outbox: the next run re-sends it and the store ignores what it already has.
        audit: outbox,
        followUps,
        activeSagas: [...activeSagas],
      });
    }
  }
  publishSearchAttributes();
  // Decided slashes land first (their entries belong in the chain), then every link is durable before the commitment
  // is: a verifier never sees a commitment ahead of its chain.
  await wf.condition(() => followUps.length === 0);
  await wf.condition(() => outbox.pending.length === 0 || outbox.fault !== null);
  commitment = { ...commitment!, ...(await commitAudit(commitment!)) };
  // Bonds are session-scoped: they end with it.
  await liability.releaseSessionBonds({ sessionId: data.sessionId, nowMs: Date.now() });
  committed = true;
  await wf.condition(wf.allHandlersFinished);
  return commitment;

  async function commitAudit(c: SessionCommitment): Promise<Partial<SessionCommitment>> {
    const status = { persistedSeq: outbox.persistedSeq, fault: outbox.fault };
    try {
      const signed = await audit.commitSessionAudit({
        commitment: c,
        workflowId: info.workflowId,
        runId: wf.workflowInfo().runId,
        checkpoint: data.config.enableBlockchainCommitment,
      });
      return { ...signed, audit: status };
    } catch (err) {
      const fault = `commitment could not be stored: ${failureMessage(err)}`;
      wf.log.error('audit commitment failed', { sessionId: data.sessionId, fault });
      return { keyId: null, signature: null, audit: { ...status, fault: status.fault ?? fault } };
    }
  }
}

function failureMessage(err: unknown): string {
  const cause = err instanceof wf.ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/** With `enableAudit: false` the chain skips allowed decisions; governance changes and denials are always recorded. */
const isRoutineAllow = (e: SessionEvent): boolean =>
  e.kind === 'decision' && (e.payload as { allowed?: boolean }).allowed === true;

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof wf.ApplicationFailure) throw err;
    throw hvError(ErrorType.Internal, `internal error: ${(err as Error).message}`, {});
  }
}

function view(data: SessionData, outbox: AuditOutbox): SessionView {
  const now = Date.now();
  const info = wf.workflowInfo();
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
      effectiveRing: model.effectiveRingOf(data, participant, now),
      elevation: model.activeElevation(data, participant.agentDid, now),
      actions: Object.keys(participant.actions),
    })),
    approvals: data.approvals,
    locks: model.sessionLocks(data, {}),
    vfs: {
      files: Object.keys(data.vfs.files).length,
      totalBytes: data.vfs.totalBytes,
      snapshots: Object.keys(data.vfs.snapshots),
      conflicts: data.vfs.conflicts,
    },
    audit: {
      entries: data.chain.seq,
      head: data.chain.hash,
      persistedSeq: outbox.persistedSeq,
      pending: outbox.pending.length,
      fault: outbox.fault,
    },
    stats: data.stats,
    runId: info.runId,
    historyLength: info.historyLength,
  };
}
