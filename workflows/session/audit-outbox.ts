import * as wf from '@temporalio/workflow';
import type { ChainedEntry } from '../../domain/audit-chain.js';
import { packBatch } from '../../domain/audit-pack.js';
import { ErrorType, hvError } from '../../domain/errors.js';
import { AUDIT_BATCH_BYTES, CARRY_BUDGET, QUERY_ANSWER_BYTES, jsonBytes } from '../../domain/limits.js';
import type { AgentReport } from '../../activities/audit.js';
import type { ReportedDecision } from '../../domain/kill-switch.js';
import type { AuditStatus } from '../../domain/session/index.js';
import type { SessionCommitment } from '../../domain/session-types.js';
import { audit } from '../activity-proxies.js';
import { failureMessage } from '../failures.js';

/** A flush's decisions, grouped by identity: one report per identity. */
function byAgent(decisions: readonly AgentDecision[]): AgentReport[] {
  const grouped = new Map<string, ReportedDecision[]>();
  for (const { agentDid, ...d } of decisions) {
    const list = grouped.get(agentDid);
    if (list) list.push(d);
    else grouped.set(agentDid, [d]);
  }
  return [...grouped].map(([agentDid, list]) => ({ agentDid, decisions: list }));
}

/**
 * Entries recorded but not yet acknowledged by the audit store, carried through continue-as-new so none is lost. A
 * fault (the store holds a conflicting chain) stops persistence and freezes the session's governance updates.
 */
export interface AuditOutbox {
  pending: ChainedEntry[];
  persistedSeq: number;
  fault: string | null;
  /** Decisions on their way to their identities' kill-switch windows, sent with the next flush (absent before). */
  decisions?: AgentDecision[];
  /** The session's decision counter: the last `n` given to a reported decision. */
  reported?: number;
}

/** A decision of one agent, reported to its identity's window. */
export type AgentDecision = ReportedDecision & { agentDid: string };

/** Audit entries kept in workflow memory for the `getAuditTail` query (the full chain lives in the audit store). */
export const RECENT_ENTRIES = 100;
/** How many of the recent entries a continue-as-new carries over. */
export const RECENT_CARRIED = 20;
/** Links per insert: one round trip and one commit for up to this many rows. */
export const AUDIT_BATCH_SIZE = 200;
/**
 * Unpersisted entries a session accepts before it refuses new governance updates (and `CARRY_BUDGET.outboxBytes` of
 * them and of decision reports, whichever comes first). The outbox is carried through continue-as-new, so it must stay
 * well below Temporal's payload limit; during a database outage the session fails closed instead of growing without
 * bound.
 */
export const MAX_AUDIT_BACKLOG = 1000;

/** What one decision report adds to the outbox, besides its two ids. */
const REPORT_OVERHEAD_BYTES = 64;
const reportBytes = (d: AgentDecision): number => d.agentDid.length + d.decisionId.length + REPORT_OVERHEAD_BYTES;
/**
 * How long recorded entries gather in the outbox before they are flushed together (a full batch goes at once, and so
 * does everything when the session closes). One flush costs a timer, an activity and two workflow tasks, shared by all
 * the updates of the interval instead of paid by each.
 */
export const AUDIT_FLUSH_INTERVAL_MS = 250;

/**
 * The session's side of the audit trail: the outbox of entries on their way to the audit store, the recent tail for
 * queries, the availability gate, and the persist loop that hands entries over in order, one batch at a time.
 */
export class AuditTrail {
  readonly recent: ChainedEntry[];
  readonly outbox: AuditOutbox;
  /** A batch is on its way to the store: continue-as-new waits for it to land. */
  flushing = false;
  /** Flush without waiting for the interval (the session is closing). */
  private urgent = false;
  /** JSON size of each pending entry, in outbox order, and of everything pending (entries and decision reports). */
  private readonly sizes: number[];
  private pendingBytes: number;

  constructor(
    private readonly sessionId: string,
    carried: { recent?: ChainedEntry[] | undefined; audit?: AuditOutbox | undefined },
  ) {
    this.recent = [...(carried.recent ?? [])];
    this.outbox = carried.audit
      ? { ...carried.audit, pending: [...carried.audit.pending], decisions: [...(carried.audit.decisions ?? [])] }
      : { pending: [], persistedSeq: 0, fault: null, decisions: [], reported: 0 };
    this.sizes = this.outbox.pending.map(jsonBytes);
    this.pendingBytes =
      this.sizes.reduce((a, b) => a + b, 0) + (this.outbox.decisions ?? []).reduce((a, d) => a + reportBytes(d), 0);
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

  /**
   * The latest `limit` entries (1 to {@link RECENT_ENTRIES}, default 20), fewer when they would not fit in one query
   * answer ({@link QUERY_ANSWER_BYTES}); the newest is always there.
   */
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
      const batch = outbox.pending.slice(0, this.batchLength());
      const reported = decisions().slice(0, AUDIT_BATCH_SIZE);
      this.flushing = true;
      try {
        await audit.appendAuditEntries({
          sessionId: this.sessionId,
          ...(batch.length > 0 ? { packed: packBatch(batch) } : {}),
          checkpoint: checkpoint() && batch.length > 0,
          reports: byAgent(reported),
        });
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

/** The newest entries of `entries` whose JSON fits in `budget` bytes (the newest one always). */
function newestWithin(entries: readonly ChainedEntry[], budget: number): ChainedEntry[] {
  let bytes = 0;
  let from = entries.length;
  while (from > 0) {
    const size = jsonBytes(entries[from - 1]);
    if (from < entries.length && bytes + size > budget) break;
    bytes += size;
    from--;
  }
  return entries.slice(from);
}
