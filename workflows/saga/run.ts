import * as wf from '@temporalio/workflow';
import { sagaEventMetrics } from '../../domain/metrics.js';
import type { SagaDefinition, SagaStepDefinition } from '../../domain/saga-dsl.js';
import { SagaLedger } from '../../domain/saga-run.js';
import {
  HandOffStepsInput,
  type RecordSagaEventInput,
  type SagaRunOptions,
  type SagaStatus,
} from '../../domain/saga-types.js';
import { parseInput } from '../../domain/validation.js';
import { HvSagaStatus, HvSessionId } from '../../domain/search-attributes.js';
import {
  getSagaProgressQuery,
  handOffStepsUpdate,
  recordSagaEventSignal,
  sessionWorkflowId,
  type StepHandOff,
} from '../messages.js';
import { ErrorType, hvError } from '../../domain/errors.js';
import { sagaControl } from '../activity-proxies.js';
import { InternalTrust } from '../internal-trust.js';
import { withoutAuth } from '../operator-keys.js';
import { countHits } from '../metrics.js';

/** A step running right now, in its own scope so a kill can cancel exactly that step. */
export interface InflightStep {
  agentDid: string;
  scope: wf.CancellationScope;
  /** Set when a kill handed the step off: the cancel is ours, and the substitute (if any) takes the step over. */
  handoff?: { substituteDid: string | null };
}

/**
 * One run of a saga workflow: its definition and options, its ledger (the view, what to undo, who runs each step),
 * the steps in flight, and its reports to the session.
 */
export class SagaRun {
  readonly sessionId: string;
  readonly ledger: SagaLedger;
  readonly inflight = new Map<string, InflightStep>();
  /** The internal keys this run accepts (docs/DESIGN.md §3.5). */
  readonly trust = new InternalTrust(wf.workflowInfo().workflowId);
  private readonly stepsById: Map<string, SagaStepDefinition>;

  constructor(
    readonly sagaId: string,
    readonly definition: SagaDefinition,
    readonly options: SagaRunOptions,
  ) {
    this.sessionId = definition.session_id;
    this.stepsById = new Map(definition.steps.map((s) => [s.id, s]));
    this.ledger = new SagaLedger(sagaId, definition, Date.now());
  }

  /** The definition of a step the plan names. */
  stepOf(id: string): SagaStepDefinition {
    return this.stepsById.get(id)!;
  }

  /**
   * The progress query, and the hand-off a session asks for when it kills an agent whose steps are in flight. A
   * hand-off must be signed by a worker (an activity sends it on the session's behalf): a forged one is refused by the
   * validator, with no trace in history.
   */
  registerHandlers(): void {
    wf.setHandler(getSagaProgressQuery, () => this.ledger.view);
    // The validator refuses a forged or malformed hand-off before it reaches history (a refused one is only logged:
    // validators cannot change state); the handler parses again for replays.
    const parse = (raw: unknown) => parseInput(HandOffStepsInput, withoutAuth(raw), 'step hand-off');
    wf.setHandler(handOffStepsUpdate, (raw) => this.handOff(parse(raw)), {
      validator: (raw) => {
        const reason = this.trust.refusal(handOffStepsUpdate.name, raw);
        if (reason) {
          wf.log.warn('refused internal message', { name: handOffStepsUpdate.name, reason, sagaId: this.sagaId });
          throw hvError(ErrorType.PermissionDenied, `handOffSteps refused: ${reason}`, { sagaId: this.sagaId });
        }
        void parse(raw);
      },
    });
  }

  /** Cancels the steps `agentDid` is running and hands them to the substitute (or fails them without one). */
  private handOff({ agentDid, substituteDid }: HandOffStepsInput): StepHandOff[] {
    const out: StepHandOff[] = [];
    for (const [stepId, entry] of this.inflight) {
      if (entry.agentDid !== agentDid || entry.handoff) continue;
      entry.handoff = { substituteDid: substituteDid ?? null };
      entry.scope.cancel();
      out.push({
        sagaId: this.sagaId,
        stepId,
        disposition: substituteDid ? 'reassigned' : 'failed',
        substituteDid: substituteDid ?? null,
      });
    }
    return out;
  }

  /**
   * Runs at the start of every run: the internal keys (a hand-off can arrive at any time), then, for a saga started
   * outside its session, a signed registration of its steps and agents, without which the session ignores its events.
   */
  async authenticate(): Promise<void> {
    if (!this.trust.enforced) return;
    await this.trust.load();
    if (wf.workflowInfo().parent?.workflowId === sessionWorkflowId(this.sessionId)) return;
    await sagaControl.registerSagaWithSession({
      sessionId: this.sessionId,
      sagaId: this.sagaId,
      steps: this.definition.steps.map((s) => ({ stepId: s.id, agentDid: s.agent })),
    });
  }

  /** Marks the step as in flight under `agentDid`, in a fresh scope of its own. */
  track(stepId: string, agentDid: string): InflightStep {
    const entry: InflightStep = { agentDid, scope: new wf.CancellationScope() };
    this.inflight.set(stepId, entry);
    return entry;
  }

  /** Sets the saga's status in its view and its search attributes. */
  setStatus(status: SagaStatus): void {
    this.ledger.view.status = status;
    wf.upsertSearchAttributes([
      { key: HvSagaStatus, value: status },
      { key: HvSessionId, value: this.sessionId },
    ]);
  }

  /** Reports to the session's audit chain. A session that has ended cannot record; the saga's own history still does. */
  async report(event: Omit<RecordSagaEventInput, 'sagaId'>): Promise<void> {
    countHits(sagaEventMetrics(event.kind));
    try {
      await wf
        .getExternalWorkflowHandle(sessionWorkflowId(this.sessionId))
        .signal(recordSagaEventSignal, { sagaId: this.sagaId, ...event });
    } catch (err) {
      wf.log.warn('saga event not recorded by the session', {
        sagaId: this.sagaId,
        kind: event.kind,
        error: String(err),
      });
    }
  }
}
