import * as wf from '@temporalio/workflow';
import {
  BREAK_GLASS,
  killSwitchView,
  newKillSwitch,
  operatorTrip,
  parseKillSwitchConfig,
  recordDecision,
  unblock,
  type KillSwitchState,
} from '../domain/kill-switch.js';
import { killSwitch } from './activity-proxies.js';
import * as msg from './messages.js';

export interface AgentWorkflowInput {
  agentDid: string;
  config?: Record<string, unknown>;
  carried?: { state: KillSwitchState; sessions: string[] };
}

/** Sessions remembered per identity (the most recent); older ones have long ended. */
const MAX_SESSIONS = 500;

/**
 * One workflow per agent identity (DESIGN §3.3, id `agent:<did>`): the deny-rate kill switch over every session's
 * decisions for this identity. Its state is the block's source of truth (durable by construction); a trip is mirrored
 * to Postgres for admission and kills the agent in every session it is in.
 */
export async function agentWorkflow(input: AgentWorkflowInput): Promise<void> {
  let state: KillSwitchState =
    input.carried?.state ?? newKillSwitch(input.agentDid, parseKillSwitchConfig(input.config ?? {}));
  const sessions: string[] = [...(input.carried?.sessions ?? [])];
  const notices: msg.KillSwitchNotice[] = [];

  const remember = (sessionId: string): void => {
    if (sessions.includes(sessionId)) return;
    sessions.push(sessionId);
    if (sessions.length > MAX_SESSIONS) sessions.splice(0, sessions.length - MAX_SESSIONS);
  };
  const notify = (notice: Omit<msg.KillSwitchNotice, 'agentDid' | 'windowSeconds'>): void => {
    notices.push({ ...notice, agentDid: state.agentDid, windowSeconds: state.config.window_seconds });
  };

  const notifyOperator = (event: msg.KillSwitchNotice['event'], cmd: msg.KillSwitchCommand): void =>
    notify({
      event,
      trigger: 'operator',
      reason: cmd.reason,
      authorizedBy: cmd.authorizedBy,
      trippingSessionId: null,
      decisionId: null,
    });

  wf.setHandler(msg.registerSessionSignal, ({ sessionId }) => remember(sessionId));
  wf.setHandler(msg.recordDecisionSignal, (d) => {
    remember(d.sessionId);
    const out = recordDecision(state, {
      kind: d.kind,
      atMs: Date.now(),
      sessionId: d.sessionId,
      decisionId: d.decisionId,
    });
    state = out.state;
    if (out.tripped)
      notify({
        event: 'tripped',
        trigger: 'deny_rate',
        reason: BREAK_GLASS.triggered,
        authorizedBy: null,
        trippingSessionId: d.sessionId,
        decisionId: d.decisionId,
      });
  });
  wf.setHandler(
    msg.tripKillSwitchUpdate,
    (cmd) => {
      const out = operatorTrip(state, { ...cmd, atMs: Date.now() });
      state = out.state;
      if (out.changed) notifyOperator('tripped', cmd);
      return killSwitchView(state, Date.now());
    },
    { validator: (cmd: msg.KillSwitchCommand) => void operatorTrip(state, { ...cmd, atMs: Date.now() }) },
  );
  wf.setHandler(
    msg.unblockKillSwitchUpdate,
    (cmd) => {
      state = unblock(state, { ...cmd, atMs: Date.now() }).state;
      notifyOperator('unblocked', cmd);
      return killSwitchView(state, Date.now());
    },
    { validator: (cmd: msg.KillSwitchCommand) => void unblock(state, { ...cmd, atMs: Date.now() }) },
  );
  wf.setHandler(
    msg.configureKillSwitchUpdate,
    (config) => {
      state = { ...state, config: parseKillSwitchConfig(config) };
      return killSwitchView(state, Date.now());
    },
    { validator: (config) => void parseKillSwitchConfig(config) },
  );
  wf.setHandler(msg.getKillSwitchStatusQuery, () => killSwitchView(state, Date.now()));

  // Trips and unblocks are announced in order: mirrored durably first, then to every session the identity is in.
  for (;;) {
    await wf.condition(() => notices.length > 0 || wf.workflowInfo().continueAsNewSuggested);
    while (notices.length > 0) {
      const notice = notices[0]!;
      const blocked = state.blocked;
      await killSwitch.mirrorKillSwitchBlock({
        agentDid: state.agentDid,
        block:
          notice.event === 'tripped' && blocked
            ? {
                blockedAtMs: blocked.atMs,
                reason: blocked.reason,
                trigger: blocked.trigger,
                authorizedBy: blocked.authorizedBy,
                sessionId: blocked.sessionId,
              }
            : null,
      });
      for (const sessionId of sessions) {
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
        agentDid: state.agentDid,
        carried: { state, sessions },
      });
    }
  }
}
