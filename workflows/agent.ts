import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import {
  AgentWorkflowInput,
  adoptSessionTrip,
  BREAK_GLASS,
  ConfigureKillSwitchInput,
  KillSwitchCommand,
  killSwitchCopy,
  killSwitchView,
  newKillSwitch,
  operatorTrip,
  parseKillSwitchConfig,
  RecordDecisionSignalInput,
  recordDecision,
  RegisterSessionInput,
  ReportDecisionsInput,
  ReportKillSwitchTripInput,
  recordReportedDecisions,
  unblock,
  type KillSwitchState,
} from '../domain/kill-switch.js';
import { killSwitchMetrics } from '../domain/metrics.js';
import { MESSAGE_LIMITS } from '../domain/limits.js';
import { parseInput } from '../domain/validation.js';
import { killSwitch } from './activity-proxies.js';
import * as msg from './messages.js';
import { countHits } from './metrics.js';
import { Rejections } from './rejections.js';
import { guard } from './session/errors.js';

/** Start arguments: the identity and its kill-switch config, or the state carried over by continue-as-new. */
export type { AgentWorkflowInput };

/** Sessions remembered per identity (the most recent); older ones have long ended. */
const MAX_SESSIONS = 500;

/** One run of an agent workflow: the kill-switch state, the sessions the identity is in, and what they must hear. */
class AgentRun {
  state: KillSwitchState;
  readonly sessions: string[];
  /** The last decision counted from each session (its decision counter), so a re-sent report never counts twice. */
  readonly fed: Record<string, number>;
  /** Trips, unblocks and new settings not yet announced, oldest first; `to` names the one session a copy is for. */
  readonly notices: Array<msg.KillSwitchNotice & { to?: string }> = [];
  /** Signals refused because their input was invalid (shown by the status query). */
  readonly rejections = new Rejections();

  constructor(input: z.output<typeof AgentWorkflowInput>) {
    this.state = input.carried?.state ?? newKillSwitch(input.agentDid, parseKillSwitchConfig(input.config ?? {}));
    this.sessions = [...(input.carried?.sessions ?? [])];
    this.fed = { ...input.carried?.fed };
  }

  /** Remembers a session the identity is in, forgetting the oldest beyond {@link MAX_SESSIONS}. */
  remember(sessionId: string): void {
    const { sessions } = this;
    if (sessions.includes(sessionId)) return;
    sessions.push(sessionId);
    if (sessions.length > MAX_SESSIONS)
      for (const forgotten of sessions.splice(0, sessions.length - MAX_SESSIONS)) delete this.fed[forgotten];
  }

  /** Queues the current window for one session (or, without one, for every session), which starts its copy from it. */
  sendCopy(sessionId?: string): void {
    this.notify({
      event: 'configured',
      trigger: 'operator',
      reason: 'configured',
      authorizedBy: null,
      trippingSessionId: null,
      decisionId: null,
      copy: killSwitchCopy(this.state, Date.now()),
      ...(sessionId ? { to: sessionId } : {}),
    });
  }

  /** Queues the notice of a deny-rate trip at a session's decision. */
  notifyTrip(sessionId: string, decisionId: string): void {
    this.notify({
      event: 'tripped',
      trigger: 'deny_rate',
      reason: BREAK_GLASS.triggered,
      authorizedBy: null,
      trippingSessionId: sessionId,
      decisionId,
    });
  }

  /** Queues a notice for every session, stamped with the identity and the current window. */
  notify(notice: Omit<msg.KillSwitchNotice, 'agentDid' | 'windowSeconds'> & { to?: string }): void {
    countHits(killSwitchMetrics(notice.event, notice.trigger));
    this.notices.push({ ...notice, agentDid: this.state.agentDid, windowSeconds: this.state.config.window_seconds });
  }

  /** Queues the notice of an operator's trip or unblock. */
  notifyOperator(event: msg.KillSwitchNotice['event'], cmd: msg.KillSwitchCommand): void {
    this.notify({
      event,
      trigger: 'operator',
      reason: cmd.reason,
      authorizedBy: cmd.authorizedBy,
      trippingSessionId: null,
      decisionId: null,
    });
  }
}

/**
 * One workflow per agent identity (docs/DESIGN.md §3.3, id `agent:<did>`): the deny-rate kill switch over every
 * session's decisions for this identity. Its state is the block's source of truth (durable by construction); a trip
 * is mirrored to Postgres for admission and kills the agent in every session it is in.
 */
export async function agentWorkflow(input: AgentWorkflowInput): Promise<void> {
  // Invalid start arguments fail the workflow with a non-retryable InvalidInput failure (docs/DESIGN.md §12).
  const run = new AgentRun(
    parseInput(AgentWorkflowInput, input, 'agent workflow input', MESSAGE_LIMITS.maxStartNesting),
  );
  registerHandlers(run);
  const { sessions, notices } = run;

  // Trips and unblocks are announced in order: mirrored durably first, then to every session the identity is in.
  for (;;) {
    await wf.condition(() => notices.length > 0 || wf.workflowInfo().continueAsNewSuggested);
    while (notices.length > 0) {
      const { to, ...notice } = notices[0]!;
      const blocked = run.state.blocked;
      if (notice.event !== 'configured')
        await killSwitch.mirrorKillSwitchBlock({
          agentDid: run.state.agentDid,
          block: notice.event === 'tripped' ? blocked : null,
        });
      for (const sessionId of to ? [to] : sessions) {
        try {
          await wf
            .getExternalWorkflowHandle(msg.sessionWorkflowId(sessionId))
            .signal(msg.killSwitchNoticeSignal, notice);
        } catch {
          // That session has ended; nothing to kill there.
        }
      }
      notices.shift();
    }
    if (wf.workflowInfo().continueAsNewSuggested) {
      await wf.condition(wf.allHandlersFinished);
      if (notices.length > 0) continue;
      return await wf.continueAsNew<typeof agentWorkflow>({
        agentDid: run.state.agentDid,
        carried: { state: run.state, sessions, fed: run.fed },
      });
    }
  }
}

/** The decisions every session reports, the operator's trip, unblock and configuration, and the status query. */
function registerHandlers(run: AgentRun): void {
  const { rejections } = run;
  // Every signal is parsed first; an invalid one (or one its reducer refuses) is dropped and counted, never thrown.
  // A new session of an armed identity gets its copy of the window (the identity stays the authority meanwhile).
  wf.setHandler(msg.registerSessionSignal, (raw) =>
    rejections.guarded('registerSession', () => {
      const { sessionId } = parseInput(RegisterSessionInput, raw, 'registerSession');
      run.remember(sessionId);
      if (run.state.config.enabled) run.sendCopy(sessionId);
    }),
  );
  wf.setHandler(msg.reportDecisionsSignal, (raw) =>
    rejections.guarded('reportDecisions', () => {
      const { sessionId, decisions } = parseInput(ReportDecisionsInput, raw, 'reportDecisions');
      const out = recordReportedDecisions(run.state, sessionId, decisions, run.fed[sessionId] ?? 0);
      run.remember(sessionId);
      run.state = out.state;
      run.fed[sessionId] = out.lastN;
      if (out.tripped) run.notifyTrip(sessionId, out.tripped.decisionId);
    }),
  );
  wf.setHandler(msg.reportKillSwitchTripSignal, (raw) =>
    rejections.guarded('reportKillSwitchTrip', () => {
      const trip = parseInput(ReportKillSwitchTripInput, raw, 'reportKillSwitchTrip');
      const out = adoptSessionTrip(run.state, trip);
      run.state = out.state;
      if (out.changed) run.notifyTrip(trip.sessionId, trip.decisionId);
    }),
  );
  // One decision at a time: what sessions sent before decisions were batched (kept for their histories).
  wf.setHandler(msg.recordDecisionSignal, (raw) =>
    rejections.guarded('recordDecision', () => {
      const d = parseInput(RecordDecisionSignalInput, raw, 'recordDecision');
      const out = recordDecision(run.state, {
        kind: d.kind,
        atMs: Date.now(),
        sessionId: d.sessionId,
        decisionId: d.decisionId,
      });
      run.remember(d.sessionId);
      run.state = out.state;
      if (out.tripped) run.notifyTrip(d.sessionId, d.decisionId);
    }),
  );
  registerOperatorUpdates(run);
  wf.setHandler(msg.getKillSwitchStatusQuery, () => ({
    ...killSwitchView(run.state, Date.now()),
    rejected: rejections.view(),
  }));
  wf.setHandler(msg.getSessionsQuery, () => [...run.sessions]);
}

/**
 * The operator's trip, unblock and configuration: each validator parses and dry-runs, so a refused command leaves no
 * history; the handler parses again (on replay the validator does not run) under `guard`, so nothing fails the task.
 */
function registerOperatorUpdates(run: AgentRun): void {
  const command = (raw: unknown, what: string) => parseInput(KillSwitchCommand, raw, what);
  wf.setHandler(
    msg.tripKillSwitchUpdate,
    (raw) =>
      guard(() => {
        const cmd = command(raw, 'kill switch trip');
        const out = operatorTrip(run.state, { ...cmd, atMs: Date.now() });
        run.state = out.state;
        if (out.changed) run.notifyOperator('tripped', cmd);
        return killSwitchView(run.state, Date.now());
      }),
    { validator: (raw) => void operatorTrip(run.state, { ...command(raw, 'kill switch trip'), atMs: Date.now() }) },
  );
  wf.setHandler(
    msg.unblockKillSwitchUpdate,
    (raw) =>
      guard(() => {
        const cmd = command(raw, 'kill switch unblock');
        run.state = unblock(run.state, { ...cmd, atMs: Date.now() }).state;
        run.notifyOperator('unblocked', cmd);
        return killSwitchView(run.state, Date.now());
      }),
    { validator: (raw) => void unblock(run.state, { ...command(raw, 'kill switch unblock'), atMs: Date.now() }) },
  );
  const config = (raw: unknown) =>
    parseKillSwitchConfig(parseInput(ConfigureKillSwitchInput, raw, 'kill switch configuration'));
  wf.setHandler(
    msg.configureKillSwitchUpdate,
    (raw) =>
      guard(() => {
        run.state = { ...run.state, config: config(raw) };
        // Sessions refresh their copies: an armed switch is evaluated there from now on, a disarmed one no longer.
        run.sendCopy();
        return killSwitchView(run.state, Date.now());
      }),
    { validator: (raw) => void config(raw) },
  );
}
