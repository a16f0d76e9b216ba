import * as wf from '@temporalio/workflow';
import { slashEvent, type FollowUp, type SlashRequest, type StepHandOff } from '../../domain/session/index.js';
import type { SessionData, SessionEvent } from '../../domain/session-types.js';
import { liability, sagaControl } from '../activity-proxies.js';
import { failureMessage } from '../failures.js';
import type { InternalTrust } from '../internal-trust.js';
import { agentWorkflowId, reportKillSwitchTripSignal } from '../messages.js';

/**
 * Tells the identity's workflow that a decision here tripped its kill switch, so every other session of the identity
 * kills the agent too. A missing agent workflow (anonymous identity) has nothing to block.
 */
async function reportTrip(host: FollowUpHost, trip: Extract<FollowUp, { kind: 'trip' }>): Promise<void> {
  const workflowId = agentWorkflowId(trip.agentDid);
  const report = { sessionId: host.data.sessionId, decisionId: trip.decisionId, atMs: trip.atMs };
  // Signed (one local activity per trip, a rare event): the identity accepts only signed reports.
  const [auth] = await host.trust.sign(reportKillSwitchTripSignal.name, report, [workflowId]);
  await wf
    .getExternalWorkflowHandle(workflowId)
    .signal(reportKillSwitchTripSignal, auth ? { ...report, auth } : report)
    .catch((err: unknown) => wf.log.warn('kill-switch trip not reported', { error: failureMessage(err) }));
}

/** What the follow-ups need of the session run: its state, its recorder, and whether it is handing over. */
export interface FollowUpHost {
  readonly data: SessionData;
  record(events: SessionEvent[]): void;
  readonly handingOver: boolean;
  readonly trust: InternalTrust;
  sagaAgentAdded(sagaId: string, agentDid: string): void;
}

/**
 * Carries out the follow-ups recorded events call for (policy in `domain/session/policy.ts`), one at a time in the
 * order their events were recorded; each outcome is recorded too. The queue is carried through continue-as-new.
 */
export class FollowUps {
  readonly queue: FollowUp[];
  /** Sagas of this session still running (from their own reports): a kill hands their steps off. */
  readonly activeSagas: Set<string>;
  /** Hand-off outcomes a `requestKill` update is waiting for, by kill id (`null` until the hand-off ran). */
  readonly handOffResults = new Map<string, StepHandOff[] | null>();
  /** A follow-up's activity is running: continue-as-new waits for it. */
  running = false;

  constructor(carried: { followUps?: FollowUp[] | undefined; activeSagas?: string[] | undefined }) {
    this.queue = [...(carried.followUps ?? [])];
    this.activeSagas = new Set<string>(carried.activeSagas ?? []);
  }

  /** Runs for the life of the workflow run. */
  async run(host: FollowUpHost): Promise<void> {
    for (;;) {
      // While the run hands over, only a hand-off an update is waiting for may start; the rest waits for the next run.
      await wf.condition(() => this.queue.length > 0 && (!host.handingOver || this.handOffResults.size > 0));
      const next = this.queue[0]!;
      this.running = true;
      try {
        if (next.kind === 'slash') await this.applySlash(host, next.slash);
        else if (next.kind === 'trip') await reportTrip(host, next);
        else await this.handOff(host, next);
      } finally {
        this.queue.shift();
        this.running = false;
      }
    }
  }

  private async applySlash(host: FollowUpHost, slash: SlashRequest): Promise<void> {
    try {
      const changes = await liability.slashAgent({
        ...slash,
        sessionId: host.data.sessionId,
        policy: host.data.config.liability,
        nowMs: Date.now(),
      });
      host.record([slashEvent(slash, changes)]);
    } catch (err) {
      host.record([
        { kind: 'slash_failed', agentDid: slash.culpritDid, payload: { ...slash, error: failureMessage(err) } },
      ]);
    }
  }

  /**
   * Hands the killed agent's in-flight saga steps to the substitute (or fails them) in every saga of this session
   * that is still running, and records what became of each step.
   */
  private async handOff(host: FollowUpHost, h: Extract<FollowUp, { kind: 'handoff' }>): Promise<void> {
    const steps: StepHandOff[] = [];
    // The substitute may appear in the sagas' events before the hand-off answers here: allow it in each first.
    if (h.substituteDid) for (const sagaId of this.activeSagas) host.sagaAgentAdded(sagaId, h.substituteDid);
    try {
      for (const sagaId of [...this.activeSagas])
        steps.push(
          ...(await sagaControl.handOffAgentSteps({
            sagaId,
            agentDid: h.agentDid,
            substituteDid: h.substituteDid ?? undefined,
            killId: h.killId,
          })),
        );
    } catch (err) {
      host.record([
        {
          kind: 'kill_handoff_failed',
          agentDid: h.agentDid,
          payload: { killId: h.killId, error: failureMessage(err) },
        },
      ]);
    }
    if (steps.length > 0)
      host.record([{ kind: 'kill_handoff', agentDid: h.agentDid, payload: { killId: h.killId, steps } }]);
    if (this.handOffResults.has(h.killId)) this.handOffResults.set(h.killId, steps);
  }
}
