import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import { appendEntry, type Json, type StoredLink } from '../../domain/audit-chain.js';
import type { RebaseResult } from '../../domain/audit-rebase.js';
import { GovernanceCounter, sessionEventMetrics } from '../../domain/metrics.js';
import * as model from '../../domain/session/index.js';
import {
  CreateSessionInput,
  SessionWorkflowArgs,
  type SessionCommitment,
  type SessionData,
  type SessionEvent,
  type TerminateSessionInput,
} from '../../domain/session-types.js';
import { allowSagaAgent, type KnownSaga } from '../../domain/internal-binding.js';
import type { CommandSigner, NonceBook } from '../../domain/operator-command.js';
import { MESSAGE_LIMITS } from '../../domain/limits.js';
import { parseInput } from '../../domain/validation.js';
import { InternalTrust } from '../internal-trust.js';
import { OperatorKeys } from '../operator-keys.js';
import { countHits, observeOutboxDepth } from '../metrics.js';
import { AuditTrail, type CarriedOutbox } from './audit-outbox.js';
import { FollowUps } from './follow-ups.js';
import { Replies, type CarriedReply } from './replies.js';

/** Start arguments: a new session, or the state carried over by continue-as-new. */
export type SessionWorkflowInput = CreateSessionInput & {
  carried?: SessionData;
  recent?: StoredLink[];
  audit?: CarriedOutbox;
  /** Follow-ups decided by recorded events but not yet carried out. */
  followUps?: model.FollowUp[];
  activeSagas?: string[];
  /** The previous run's latest update answers, for update ids retried across the hand-over. */
  replies?: CarriedReply[];
  /** The sagas this session launched or that registered with it, still running (internal-message binding). */
  knownSagas?: Record<string, KnownSaga>;
  /** The last kill-switch notice number accepted from each identity (replay guard). */
  noticeSeqs?: Record<string, number>;
  /** Nonces of the signed operator commands accepted and not yet expired (docs/DESIGN.md §13). */
  operatorNonces?: NonceBook;
};

/**
 * One run of a session workflow: the governance state (changed only by the reducers of `domain/session/`), its
 * audit trail and its follow-ups. Every change goes through {@link apply}, which records its events in the chain.
 */
export class SessionRun {
  data: SessionData;
  readonly audit: AuditTrail;
  readonly followUps: FollowUps;
  readonly replies: Replies;
  /** The operator directory and nonce book that signed control commands are verified against. */
  readonly operators: OperatorKeys;
  /** While a verified control command applies its change: its signer, stamped on the entries it records. */
  signedBy: CommandSigner | null = null;
  commitment: SessionCommitment | undefined;
  /** The commitment is stored (and signed): the terminate update may answer. */
  committed = false;
  /** Set when this run is about to continue as new: no new batch starts, the next run takes the outbox. */
  handingOver = false;
  /**
   * A new session waits for its creator's admission (kill switch) before any message takes effect: handlers wait for
   * it, and a refusal fails them and the workflow with {@link refusal} (workflows/session/register.ts).
   */
  admission: 'pending' | 'admitted' | 'refused' = 'admitted';
  refusal: wf.ApplicationFailure | null = null;
  private readonly info = wf.workflowInfo();
  /** The internal keys this run accepts (fetched when the first signed message arrives), docs/DESIGN.md §3.5. */
  readonly trust = new InternalTrust(this.info.workflowId);
  readonly knownSagas: Record<string, KnownSaga>;
  readonly noticeSeqs: Record<string, number>;

  /** Throws a non-retryable `InvalidInput` failure for invalid start arguments (the workflow fails, never its task). */
  constructor(input: SessionWorkflowInput) {
    parseInput(SessionWorkflowArgs, input, 'session workflow input', MESSAGE_LIMITS.maxStartNesting);
    // The carried state is adopted as it came (its shape checked above), so a hand-over changes nothing in it.
    this.knownSagas = { ...input.knownSagas };
    this.noticeSeqs = { ...input.noticeSeqs };
    this.data = input.carried ?? model.createSessionData(parseInput(CreateSessionInput, input, 'session'), Date.now());
    this.audit = new AuditTrail(this.data.sessionId, input, { rebased: (result) => this.rebased(result) });
    this.followUps = new FollowUps(input);
    this.replies = new Replies(input.replies);
    this.operators = new OperatorKeys(input.operatorNonces);
  }

  /** Workflow time and the workflow's own id source. */
  ctx(): model.OpContext {
    return { nowMs: Date.now(), newId: () => wf.uuid4() };
  }

  /** For validators: they must not consume the workflow's random sequence, so their ids are thrown away. */
  dryCtx(): model.OpContext {
    return { nowMs: Date.now(), newId: () => 'dry-run' };
  }

  /** Takes a reducer's new state and records its events. */
  apply(change: model.Change): void {
    this.data = change.data;
    this.record(change.events);
  }

  /** Applies expiries that are due (elevations, locks, quarantines) before anything reads them. */
  sweep(): void {
    this.apply(model.expireTimers(this.data, Date.now()));
  }

  /** Chains each event into the audit trail and queues what it calls for (follow-ups, the identity's window). */
  record(events: SessionEvent[]): void {
    for (const e of events) {
      countHits(sessionEventMetrics(e.kind, e.payload));
      // Every decision counts in the identity's window, including the allows the chain may skip.
      const decided = e.kind === 'decision' && e.agentDid ? e.agentDid : null;
      if (!this.data.config.enableAudit && model.isRoutineAllow(e)) {
        if (decided) this.audit.report(decided, 'allow', Date.now(), null);
        continue;
      }
      const { head, chained } = appendEntry(this.data.chain, {
        sessionId: this.data.sessionId,
        kind: e.kind,
        agentDid: e.agentDid,
        payload: this.signedBy ? signedPayload(e.payload, this.signedBy) : e.payload,
        recordedAtMs: Date.now(),
        workflowId: this.info.workflowId,
        runId: this.info.runId,
        format: this.audit.format,
      });
      this.data = { ...this.data, chain: head };
      this.audit.push(chained);
      countHits([{ counter: GovernanceCounter.auditRecorded, labels: {} }]);
      const sagasRunning = this.followUps.activeSagas.size > 0;
      this.followUps.queue.push(...model.followUpsOf(this.data, e, sagasRunning, Date.now()));
      if (decided) {
        const allowed = (e.payload as { allowed?: boolean }).allowed === true;
        this.audit.report(decided, allowed ? 'allow' : 'deny', Date.now(), `${this.data.sessionId}#${head.seq}`);
      }
    }
    this.audit.trim();
    if (events.length > 0) observeOutboxDepth(this.audit.status().pending);
  }

  /**
   * The chain was rebased after a reset (docs/DESIGN.md §5.7): the head moves to the last re-linked entry, and a
   * commitment already made (the session closed before the store reported the branch) moves with the entry it named.
   */
  private rebased(result: RebaseResult): void {
    this.data = { ...this.data, chain: result.head };
    const c = this.commitment;
    if (!c) return;
    const seq = result.seqOf(c.entryCount);
    const moved = result.links.find((link) => link.entry.seq === seq);
    if (moved) this.commitment = { ...c, entryCount: seq, root: moved.hash };
  }

  /** Ends the session: release everything, record the last entries, then commit to the chain head. */
  close(input: z.output<typeof TerminateSessionInput>): SessionCommitment {
    this.apply(model.beginTermination(this.data, input, this.ctx()));
    this.record([{ kind: 'session_archived', agentDid: null, payload: { reason: input.reason } }]);
    const archived = model.archiveSession(this.data);
    this.data = archived.data;
    this.commitment = archived.commitment;
    return archived.commitment;
  }

  /** A substitute this session handed a saga's step to may appear in that saga's later events. */
  sagaAgentAdded(sagaId: string, agentDid: string): void {
    allowSagaAgent(this.knownSagas, sagaId, agentDid);
  }

  /** The workflow id hashed into every entry. */
  get workflowId(): string {
    return this.info.workflowId;
  }
}

/** An entry's payload with the verified signer of the command that caused it (non-repudiation: `hv audit` shows it). */
const signedPayload = (payload: Json, signer: CommandSigner): Json => ({
  ...(payload as Record<string, Json>),
  signedBy: { did: signer.did, kid: signer.kid, sig: signer.sig },
});
