import * as wf from '@temporalio/workflow';
import { historyInfo } from './stable-tasks.js';
import type { z } from 'zod';
import {
  AgentWorkflowInput,
  adoptSessionTrip,
  BREAK_GLASS,
  ConfigureKillSwitchInput,
  killSwitchCopy,
  KillSwitchCommandInput,
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
import { withActor, type CommandSigner } from '../domain/operator-command.js';
import { MESSAGE_LIMITS } from '../domain/limits.js';
import { parseInput } from '../domain/validation.js';
import { killSwitch } from './activity-proxies.js';
import { InternalTrust } from './internal-trust.js';
import * as msg from './messages.js';
import { countHits } from './metrics.js';
import { OperatorKeys, withoutAuth } from './operator-keys.js';
import { rejectionText } from './rejections.js';
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
  /** Notices delivered in this run (queued ones are these plus `notices`): `configure` waits for its copies. */
  delivered = 0;
  /** The last notice number given: sessions accept an identity's notices in increasing order only. */
  noticeSeq: number;
  /** The internal keys this run accepts, and the messages it refused (forged, unbound or invalid). */
  readonly trust = new InternalTrust(wf.workflowInfo().workflowId);
  /** Trip, unblock and configure are signed operator commands (docs/DESIGN.md §13): any registry operator. */
  readonly operators: OperatorKeys;

  constructor(input: z.output<typeof AgentWorkflowInput>) {
    this.operators = new OperatorKeys(input.carried?.nonces);
    this.state = input.carried?.state ?? newKillSwitch(input.agentDid, parseKillSwitchConfig(input.config ?? {}));
    this.sessions = [...(input.carried?.sessions ?? [])];
    this.fed = { ...input.carried?.fed };
    this.noticeSeq = input.carried?.noticeSeq ?? 0;
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
    const numbered = this.trust.enforced ? { seq: ++this.noticeSeq } : {};
    this.notices.push({
      ...notice,
      agentDid: this.state.agentDid,
      windowSeconds: this.state.config.window_seconds,
      ...numbered,
    });
  }

  /** Queues the notice of an operator's trip or unblock. */
  notifyOperator(event: msg.KillSwitchNotice['event'], cmd: msg.KillSwitchCommand, signer: CommandSigner | null): void {
    this.notify({
      event,
      trigger: 'operator',
      reason: cmd.reason,
      authorizedBy: cmd.authorizedBy,
      trippingSessionId: null,
      decisionId: null,
      ...(signer ? { signedBy: { did: signer.did, kid: signer.kid, sig: signer.sig } } : {}),
    });
  }
}

/** Guards `configure` waiting for its copies' delivery: runs recorded before it answered at once. */
export const CONFIGURE_DELIVERS_PATCH = 'hv-configure-delivers';

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
  const { sessions, notices, trust } = run;
  // Every message this identity hears from a session is signed: the keys are needed at once (registerSession came
  // with the start).
  void trust.load();

  // Trips and unblocks are announced in order: mirrored durably first, then to every session the identity is in.
  for (;;) {
    await wf.condition(() => notices.length > 0 || historyInfo().continueAsNewSuggested);
    while (notices.length > 0) {
      const { to, ...notice } = notices[0]!;
      const blocked = run.state.blocked;
      if (notice.event !== 'configured')
        await killSwitch.mirrorKillSwitchBlock({
          agentDid: run.state.agentDid,
          block: notice.event === 'tripped' ? blocked : null,
        });
      const targets = to ? [to] : [...sessions];
      // Signed for each session (the signature names its target), in one local activity per notice.
      const auths = await trust.sign(msg.killSwitchNoticeSignal.name, notice, targets.map(msg.sessionWorkflowId));
      for (const [i, sessionId] of targets.entries()) {
        const auth = auths[i];
        try {
          await wf
            .getExternalWorkflowHandle(msg.sessionWorkflowId(sessionId))
            .signal(msg.killSwitchNoticeSignal, auth ? { ...notice, auth } : notice);
        } catch {
          // That session has ended; nothing to kill there.
        }
      }
      notices.shift();
      run.delivered++;
    }
    if (historyInfo().continueAsNewSuggested) {
      await wf.condition(wf.allHandlersFinished);
      if (notices.length > 0) continue;
      return await wf.continueAsNew<typeof agentWorkflow>({
        agentDid: run.state.agentDid,
        carried: {
          state: run.state,
          sessions,
          fed: run.fed,
          nonces: run.operators.nonces,
          ...(trust.enforced ? { noticeSeq: run.noticeSeq } : {}),
        },
      });
    }
  }
}

/** The decisions every session reports, the operator's trip, unblock and configuration, and the status query. */
function registerHandlers(run: AgentRun): void {
  registerInternalHandlers(run);
  registerOperatorHandlers(run);
  wf.setHandler(msg.getKillSwitchStatusQuery, () => ({
    ...killSwitchView(run.state, Date.now()),
    ...(run.trust.rejected.count > 0 ? { rejected: run.trust.rejected } : {}),
  }));
  wf.setHandler(msg.getSessionsQuery, () => [...run.sessions]);
}

/**
 * The operator's trip, unblock and configuration: signed commands of a registry operator (docs/DESIGN.md §13). Each
 * validator verifies, parses and dry-runs, so a refused command leaves no history; the handler does it again (on
 * replay the validator does not run) under `guard`, so nothing fails the task, and remembers the nonce.
 */
function registerOperatorHandlers(run: AgentRun): void {
  const command = (name: string, raw: unknown): { cmd: msg.KillSwitchCommand; signer: CommandSigner | null } => {
    if (!run.operators.enforced)
      return { cmd: parseInput(KillSwitchCommandInput, withoutAuth(raw), name), signer: null };
    const { signer, args } = run.operators.verify(name, raw, { kind: 'identity' });
    return { cmd: parseInput(KillSwitchCommandInput, withActor(args, 'authorizedBy', signer), name), signer };
  };
  const accepted = (checked: { cmd: msg.KillSwitchCommand; signer: CommandSigner | null }) => {
    if (checked.signer) run.operators.accept(checked.signer);
    return checked;
  };
  wf.setHandler(
    msg.tripKillSwitchUpdate,
    (raw) =>
      guard(() => {
        const { cmd, signer } = accepted(command('tripKillSwitch', raw));
        const out = operatorTrip(run.state, { ...cmd, atMs: Date.now() });
        run.state = out.state;
        if (out.changed) run.notifyOperator('tripped', cmd, signer);
        return killSwitchView(run.state, Date.now());
      }),
    {
      validator: (raw) => void operatorTrip(run.state, { ...command('tripKillSwitch', raw).cmd, atMs: Date.now() }),
    },
  );
  wf.setHandler(
    msg.unblockKillSwitchUpdate,
    (raw) =>
      guard(() => {
        const { cmd, signer } = accepted(command('unblockKillSwitch', raw));
        run.state = unblock(run.state, { ...cmd, atMs: Date.now() }).state;
        run.notifyOperator('unblocked', cmd, signer);
        return killSwitchView(run.state, Date.now());
      }),
    { validator: (raw) => void unblock(run.state, { ...command('unblockKillSwitch', raw).cmd, atMs: Date.now() }) },
  );
  const parseConfig = (raw: unknown) =>
    parseKillSwitchConfig(parseInput(ConfigureKillSwitchInput, raw, 'kill switch configuration'));
  const configuration = (raw: unknown) => {
    if (!run.operators.enforced) return { config: parseConfig(withoutAuth(raw)), signer: null };
    const { signer, args } = run.operators.verify('configureKillSwitch', raw, { kind: 'identity' });
    return { config: parseConfig(args), signer };
  };
  wf.setHandler(
    msg.configureKillSwitchUpdate,
    async (raw) => {
      const view = guard(() => {
        const { config, signer } = configuration(raw);
        if (signer) run.operators.accept(signer);
        run.state = { ...run.state, config };
        // Sessions refresh their copies: an armed switch is evaluated there from now on, a disarmed one no longer.
        run.sendCopy();
        return killSwitchView(run.state, Date.now());
      });
      // Answered once every session has the copy in its history, so the caller's next action there is counted.
      const sent = run.delivered + run.notices.length;
      if (wf.patched(CONFIGURE_DELIVERS_PATCH)) await wf.condition(() => run.delivered >= sent);
      return view;
    },
    { validator: (raw) => void configuration(raw) },
  );
  run.operators.registerRefresh();
}

/**
 * Internal messages (docs/DESIGN.md §3.5): a registration must be signed by a worker; decisions and trip reports must
 * be signed too and come from a session that registered this identity first; every one is parsed with its schema
 * after the signature check. Anything else changes nothing and is counted in the status (never thrown: a signal
 * cannot fail the task). The legacy one-decision signal is refused outright (only old histories replay it).
 */
function registerInternalHandlers(run: AgentRun): void {
  const { trust } = run;
  const guarded = (name: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      trust.reject(name, rejectionText(err));
    }
  };
  const fromRegistered = (name: string, message: { sessionId?: unknown }): boolean => {
    const reason =
      trust.refusal(name, message) ??
      (trust.enforced && !(typeof message.sessionId === 'string' && run.sessions.includes(message.sessionId))
        ? `session ${JSON.stringify(message.sessionId)?.slice(0, 200)} never registered this identity`
        : null);
    if (reason) trust.reject(name, reason);
    return reason === null;
  };
  const body = (raw: unknown): { sessionId?: unknown } => (typeof raw === 'object' && raw !== null ? raw : {});
  wf.setHandler(msg.registerSessionSignal, (raw) =>
    trust.deliver(true, () =>
      guarded(msg.registerSessionSignal.name, () => {
        const reason = trust.refusal(msg.registerSessionSignal.name, raw);
        if (reason) return trust.reject(msg.registerSessionSignal.name, reason);
        const { sessionId } = parseInput(RegisterSessionInput, withoutAuth(raw), 'registerSession');
        // A new session of an armed identity gets its copy of the window (the identity stays the authority meanwhile).
        run.remember(sessionId);
        if (run.state.config.enabled) run.sendCopy(sessionId);
      }),
    ),
  );
  wf.setHandler(msg.reportDecisionsSignal, (raw) =>
    trust.deliver(true, () =>
      guarded(msg.reportDecisionsSignal.name, () => {
        if (!fromRegistered(msg.reportDecisionsSignal.name, body(raw))) return;
        const { sessionId, decisions } = parseInput(ReportDecisionsInput, withoutAuth(raw), 'reportDecisions');
        const out = recordReportedDecisions(run.state, sessionId, decisions, run.fed[sessionId] ?? 0);
        run.remember(sessionId);
        run.state = out.state;
        run.fed[sessionId] = out.lastN;
        if (out.tripped) run.notifyTrip(sessionId, out.tripped.decisionId);
      }),
    ),
  );
  wf.setHandler(msg.reportKillSwitchTripSignal, (raw) =>
    trust.deliver(true, () =>
      guarded(msg.reportKillSwitchTripSignal.name, () => {
        if (!fromRegistered(msg.reportKillSwitchTripSignal.name, body(raw))) return;
        const trip = parseInput(ReportKillSwitchTripInput, withoutAuth(raw), 'reportKillSwitchTrip');
        const out = adoptSessionTrip(run.state, trip);
        run.state = out.state;
        if (out.changed) run.notifyTrip(trip.sessionId, trip.decisionId);
      }),
    ),
  );
  // One decision at a time: what sessions sent before decisions were batched (kept only so their histories replay).
  wf.setHandler(msg.recordDecisionSignal, (raw) =>
    guarded(msg.recordDecisionSignal.name, () => {
      if (trust.enforced) return trust.reject(msg.recordDecisionSignal.name, 'recordDecision is no longer accepted');
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
}
