import * as wf from '@temporalio/workflow';
import {
  AUDIT_FORMAT_V1,
  AUDIT_FORMAT_V2,
  withRunId,
  type AuditFormat,
  type ChainedEntry,
  type StoredLink,
} from '../../domain/audit-chain.js';
import { packBatch, sameFormatRun } from '../../domain/audit-pack.js';
import { rebasePending, type RebaseResult, type StoredBranch } from '../../domain/audit-rebase.js';
import { ErrorType, hvError } from '../../domain/errors.js';
import {
  AUDIT_BATCH_BYTES,
  AUDIT_BATCH_SIZE,
  AUDIT_FLUSH_INTERVAL_MS,
  CARRY_BUDGET,
  MAX_AUDIT_BACKLOG,
  QUERY_ANSWER_BYTES,
  RECENT_CARRIED,
  RECENT_ENTRIES,
  jsonBytes,
  newestWithin,
} from '../../domain/limits.js';

export { AUDIT_BATCH_SIZE, AUDIT_FLUSH_INTERVAL_MS, MAX_AUDIT_BACKLOG, RECENT_CARRIED, RECENT_ENTRIES };
export type { AgentDecision };
import { decisionsByAgent, type AgentDecision } from '../../domain/kill-switch.js';
import type { AuditStatus } from '../../domain/session/index.js';
import type { SessionCommitment } from '../../domain/session-types.js';
import { audit } from '../activity-proxies.js';
import { failureMessage } from '../failures.js';

/**
 * Entries recorded but not yet acknowledged by the audit store, carried through continue-as-new so none is lost. A
 * fault (the store holds a conflicting chain) stops persistence and freezes the session's governance updates.
 */
export interface AuditOutbox {
  pending: ChainedEntry[];
  persistedSeq: number;
  fault: string | null;
  /**
   * Set once a run of this session writes v2: continue-as-new carries it, so the next run keeps v2 without a patch
   * marker of its own. Absent (a run that writes v1, or a run before v2), the next run decides afresh.
   */
  format?: typeof AUDIT_FORMAT_V2;
  /** Decisions on their way to their identities' kill-switch windows, sent with the next flush (absent before). */
  decisions?: AgentDecision[];
  /** The session's decision counter: the last `n` given to a reported decision. */
  reported?: number;
}

/** What the outbox carried by a run before v2 holds: links whose run id is only inside their v1 entry. */
export type CarriedOutbox = Omit<AuditOutbox, 'pending'> & { pending: StoredLink[] };

/**
 * The patch that switched new runs to `hv-audit-v2` (docs/DESIGN.md §5.1, §11). A run that started before it replays
 * without the marker and keeps writing the v1 entries it wrote then; a run that starts after it records the marker.
 */
export const AUDIT_V2_PATCH = 'hv-audit-v2';

/**
 * The format this run writes. Decided once, when the run starts: a v2 decision carried by continue-as-new stands,
 * otherwise the patch decides (and records its marker). A run replaying a history recorded before the patch gets
 * false, as it must: its entries were v1.
 */
function runFormat(carried: CarriedOutbox | undefined): AuditFormat {
  if (carried?.format === AUDIT_FORMAT_V2) return AUDIT_FORMAT_V2;
  return wf.patched(AUDIT_V2_PATCH) ? AUDIT_FORMAT_V2 : AUDIT_FORMAT_V1;
}

/** Where the run keeps its chain head; a rebase moves it (and the commitment, once the session has closed). */
export interface ChainPort {
  rebased(result: RebaseResult): void;
}

/** What one decision report adds to the outbox, besides its two ids. */
const REPORT_OVERHEAD_BYTES = 64;
const reportBytes = (d: AgentDecision): number => d.agentDid.length + d.decisionId.length + REPORT_OVERHEAD_BYTES;

/**
 * The session's side of the audit trail: the outbox of entries on their way to the audit store, the recent tail for
 * queries, the availability gate, and the persist loop that hands entries over in order, one batch at a time.
 */
export class AuditTrail {
  readonly recent: ChainedEntry[];
  readonly outbox: AuditOutbox;
  /** The format this run's entries are written in (see {@link runFormat}). */
  readonly format: AuditFormat;
  /** A batch is on its way to the store: continue-as-new waits for it to land. */
  flushing = false;
  /** Flush without waiting for the interval (the session is closing). */
  private urgent = false;
  /** JSON size of each pending entry, in outbox order, and of everything pending (entries and decision reports). */
  private readonly sizes: number[];
  private pendingBytes = 0;

  constructor(
    private readonly sessionId: string,
    carried: { recent?: StoredLink[] | undefined; audit?: CarriedOutbox | undefined },
    private readonly chain: ChainPort,
  ) {
    // Links carried from a run before v2 have their run id only inside their entry; every link gets it beside.
    this.recent = (carried.recent ?? []).map(withRunId);
    this.outbox = carried.audit
      ? {
          ...carried.audit,
          pending: carried.audit.pending.map(withRunId),
          decisions: [...(carried.audit.decisions ?? [])],
        }
      : { pending: [], persistedSeq: 0, fault: null, decisions: [], reported: 0 };
    this.format = runFormat(carried.audit);
    if (this.format === AUDIT_FORMAT_V2) this.outbox.format = AUDIT_FORMAT_V2;
    this.sizes = this.outbox.pending.map(jsonBytes);
    this.recount();
  }

  /**
   * Queues a decision for its identity's window; it travels with the next flush. A decision the chain skipped has no
   * entry to name it (`decisionId` null) and is named by its counter instead.
   */
  report(agentDid: string, kind: 'allow' | 'deny', atMs: number, decisionId: string | null): void {
    const n = (this.outbox.reported ?? 0) + 1;
    this.outbox.reported = n;
    const id = decisionId ?? `${this.sessionId}#decision-${n}`;
    const decision = { agentDid, n, kind, atMs, decisionId: id };
    (this.outbox.decisions ??= []).push(decision);
    this.pendingBytes += reportBytes(decision);
  }

  /** Flushes what is pending now instead of at the end of the interval. */
  flushNow(): void {
    this.urgent = true;
  }

  /** Queues a recorded entry for the store and the recent tail. */
  push(chained: ChainedEntry): void {
    this.recent.push(chained);
    this.outbox.pending.push(chained);
    const size = jsonBytes(chained);
    this.sizes.push(size);
    this.pendingBytes += size;
  }

  /** Keeps the recent tail bounded (after a batch of pushes). */
  trim(): void {
    if (this.recent.length > RECENT_ENTRIES) this.recent.splice(0, this.recent.length - RECENT_ENTRIES);
  }

  /** The latest `limit` entries (1 to {@link RECENT_ENTRIES}, default 20) that fit in one query answer. */
  tail(limit: number | undefined): ChainedEntry[] {
    return newestWithin(this.recent.slice(-Math.max(1, Math.min(limit ?? 20, RECENT_ENTRIES))), QUERY_ANSWER_BYTES);
  }

  /** The recent entries continue-as-new carries: at most {@link RECENT_CARRIED}, within `CARRY_BUDGET.recentBytes`. */
  carriedRecent(): ChainedEntry[] {
    return newestWithin(this.recent.slice(-RECENT_CARRIED), CARRY_BUDGET.recentBytes);
  }

  /** Where persistence stands, for the session view. */
  status(): AuditStatus {
    return { persistedSeq: this.outbox.persistedSeq, pending: this.outbox.pending.length, fault: this.outbox.fault };
  }

  /** Every entry reached the store, or persistence stopped for good. */
  drained(): boolean {
    return this.outbox.pending.length === 0 || this.outbox.fault !== null;
  }

  /** Governance changes stop while the audit store cannot take their entries (fail closed, never drop an entry). */
  assertAvailable(): void {
    const { outbox, sessionId } = this;
    if (outbox.fault)
      throw hvError(ErrorType.AuditUnavailable, `session ${sessionId} is frozen: ${outbox.fault}`, { sessionId });
    if (outbox.pending.length >= MAX_AUDIT_BACKLOG || this.pendingBytes >= CARRY_BUDGET.outboxBytes)
      throw hvError(
        ErrorType.AuditUnavailable,
        `audit store unavailable: ${outbox.pending.length} entries of session ${sessionId} (${this.pendingBytes} bytes with the decision reports) await persistence; retry later`,
        { sessionId, pending: outbox.pending.length, pendingBytes: this.pendingBytes },
      );
  }

  /**
   * Hands recorded entries to the audit store in order, one batch at a time, for the life of this run. `paused` is
   * true while the run hands over to the next: no new batch starts, the next run takes the outbox.
   */
  async persist(checkpoint: () => boolean, paused: () => boolean): Promise<void> {
    const { outbox } = this;
    const decisions = () => outbox.decisions ?? [];
    const full = () => outbox.pending.length >= AUDIT_BATCH_SIZE || this.pendingBytes >= AUDIT_BATCH_BYTES;
    for (;;) {
      await wf.condition(
        () => (outbox.pending.length > 0 || decisions().length > 0) && outbox.fault === null && !paused(),
      );
      if (!full() && !this.urgent) await wf.condition(() => full() || this.urgent || paused(), AUDIT_FLUSH_INTERVAL_MS);
      if (paused()) continue;
      // One format per batch: only the flush where a session's v1 entries give way to v2 ones is cut short.
      const batch = outbox.pending.slice(0, this.batchLength());
      batch.length = sameFormatRun(batch);
      const reported = decisions().slice(0, AUDIT_BATCH_SIZE);
      this.flushing = true;
      try {
        const result = await audit.appendAuditEntries({
          sessionId: this.sessionId,
          firstRunId: wf.workflowInfo().firstExecutionRunId,
          ...(batch.length > 0 ? { packed: packBatch(batch) } : {}),
          checkpoint: checkpoint() && batch.length > 0,
          reports: decisionsByAgent(reported),
        });
        // Nothing was written: the batch met the entries a reset abandoned. Its decisions go with the next flush.
        if (result.rebase) {
          this.rebase(result.rebase);
          continue;
        }
        // Entries are only ever appended behind the batch, so the batch is still the head of the outbox.
        outbox.pending.splice(0, batch.length);
        this.pendingBytes -= this.sizes.splice(0, batch.length).reduce((a, b) => a + b, 0);
        this.pendingBytes -= reported.reduce((a, d) => a + reportBytes(d), 0);
        decisions().splice(0, reported.length);
        if (batch.length > 0) outbox.persistedSeq = batch[batch.length - 1]!.entry.seq;
        if (outbox.pending.length === 0) this.urgent = false;
      } catch (err) {
        // Only non-retryable failures get here: a conflicting chain under this session id.
        outbox.fault = `audit entry ${batch[0]?.entry.seq ?? '-'} could not be persisted: ${failureMessage(err)}`;
        wf.log.error('audit persistence stopped', { sessionId: this.sessionId, fault: outbox.fault });
      } finally {
        this.flushing = false;
      }
    }
  }

  /** How many pending entries the next batch takes: up to {@link AUDIT_BATCH_SIZE} within {@link AUDIT_BATCH_BYTES}. */
  private batchLength(): number {
    let bytes = 0;
    let n = 0;
    while (n < this.sizes.length && n < AUDIT_BATCH_SIZE && (n === 0 || bytes + this.sizes[n]! <= AUDIT_BATCH_BYTES))
      bytes += this.sizes[n++]!;
    return n;
  }

  private recount(): void {
    this.pendingBytes =
      this.sizes.reduce((a, b) => a + b, 0) + (this.outbox.decisions ?? []).reduce((a, d) => a + reportBytes(d), 0);
  }

  /**
   * Continues the chain after the head the store holds (docs/DESIGN.md §5.7): the batch's entries before the branch
   * point are stored already; a `chain_rebased` marker follows the stored head, then every unpersisted entry from the
   * branch point on, re-linked. The outbox, the recent tail, the queued decisions' entry names and the run's chain head
   * all move with them.
   */
  private rebase(branch: StoredBranch): void {
    const { outbox } = this;
    const info = wf.workflowInfo();
    const result = rebasePending(outbox.pending, branch, {
      sessionId: this.sessionId,
      recordedAtMs: Date.now(),
      workflowId: info.workflowId,
      runId: info.runId,
      format: this.format,
    });
    outbox.pending = result.links;
    this.sizes.splice(0, this.sizes.length, ...result.links.map(jsonBytes));
    outbox.persistedSeq = Math.max(outbox.persistedSeq, branch.fromSeq - 1);
    const kept = this.recent.filter((link) => link.entry.seq < branch.fromSeq);
    this.recent.splice(0, this.recent.length, ...kept, ...result.links);
    this.trim();
    const named = `${this.sessionId}#`;
    outbox.decisions = (outbox.decisions ?? []).map((d) => {
      const seq = d.decisionId.startsWith(named) ? Number(d.decisionId.slice(named.length)) : NaN;
      return Number.isInteger(seq) ? { ...d, decisionId: `${named}${result.seqOf(seq)}` } : d;
    });
    this.chain.rebased(result);
    wf.log.warn('audit chain rebased after a reset', {
      sessionId: this.sessionId,
      abandoned: `${branch.fromSeq}-${branch.head.seq}`,
      abandonedRuns: branch.runIds.join(','),
      head: result.head.seq,
    });
    this.recount();
  }

  /** Stores (and signs) the commitment once the chain is durable; a failure is reported in it, never thrown. */
  async commit(c: SessionCommitment, workflowId: string, checkpoint: boolean): Promise<Partial<SessionCommitment>> {
    const status = { persistedSeq: this.outbox.persistedSeq, fault: this.outbox.fault };
    try {
      const signed = await audit.commitSessionAudit({
        commitment: c,
        workflowId,
        runId: wf.workflowInfo().runId,
        checkpoint,
      });
      return { ...signed, audit: status };
    } catch (err) {
      const fault = `commitment could not be stored: ${failureMessage(err)}`;
      wf.log.error('audit commitment failed', { sessionId: this.sessionId, fault });
      return { keyId: null, signature: null, audit: { ...status, fault: status.fault ?? fault } };
    }
  }
}
