import { ServiceError, WorkflowNotFoundError, isGrpcServiceError, type Client } from '@temporalio/client';
import {
  CHECKPOINT_FORMAT,
  batchProblem,
  commitmentStatement,
  statementBytes,
  withRunId,
  type ChainedEntry,
  type CheckpointStatement,
  type CommitmentStatement,
  type StoredLink,
} from '../domain/audit-chain.js';
import { unpackBatch, type PackedBatch } from '../domain/audit-pack.js';
import type { StoredBranch } from '../domain/audit-rebase.js';
import { ErrorType, hvError } from '../domain/errors.js';
import { isAnonymous, type ReportedDecision } from '../domain/kill-switch.js';
import { retentionCutoffMs } from '../domain/retention.js';
import type { SessionCommitment } from '../domain/session-types.js';
import { insertAuditBatch, insertCommitment, purgePayloadsBefore, type StoredConflict } from '../store/audit.js';
import { nativeSha256Hex, type AuditSigner } from '../store/audit-crypto.js';
import type { CheckpointSink, SignedCheckpoint } from '../store/checkpoint-sink.js';
import type { Pool } from '../store/db.js';
import { internalSigner, type InternalSigner } from '../store/internal-crypto.js';
import { agentWorkflowId, reportDecisionsSignal } from '../workflows/messages.js';

export interface AuditDeps {
  pool: Pool;
  signer?: AuditSigner | null;
  checkpointSink?: CheckpointSink | null;
  onEntries?: (outcome: 'inserted' | 'duplicate', count: number) => void;
  /** Seconds from recording to the store, per stored entry; and a batch refused for a conflicting chain. */
  onPersisted?: (lagSeconds: number) => void;
  onFault?: () => void;
  /** Reaches the identities' agent workflows with the decisions of each flush. */
  temporal?: () => Promise<Client>;
  /** Signs each identity's decision report (the identity accepts only signed ones). */
  internal?: InternalSigner;
}

/**
 * Hands each identity its decisions of this flush. A retried flush sends them again; the identity ignores what it has
 * counted. An identity without an agent workflow (anonymous, or never admitted) has no window to feed.
 */
async function reportDecisions(deps: AuditDeps, sessionId: string, reports: readonly AgentReport[]): Promise<void> {
  const live = reports.filter((r) => !isAnonymous(r.agentDid) && r.decisions.length > 0);
  if (live.length === 0 || !deps.temporal) return;
  const client = await deps.temporal();
  await Promise.all(
    live.map((r) => {
      const workflowId = agentWorkflowId(r.agentDid);
      const body = { sessionId, decisions: r.decisions };
      const auth = internalSigner(deps).sign(reportDecisionsSignal.name, workflowId, body);
      return client.workflow
        .getHandle(workflowId)
        .signal(reportDecisionsSignal, { ...body, auth })
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
    }),
  );
}

/**
 * The links of a batch, rebuilt (packed) or re-checked (in full) before anything is written: a bad link must never
 * reach the table.
 */
function checkedLinks(input: AppendAuditInput): ChainedEntry[] {
  const refuse = (problem: string) =>
    hvError(ErrorType.ChainBroken, `refusing audit batch: ${problem}`, { sessionId: input.sessionId });
  if (input.packed) {
    const unpacked = unpackBatch(input.sessionId, input.packed, nativeSha256Hex);
    if ('problem' in unpacked) throw refuse(unpacked.problem);
    return unpacked.links;
  }
  const entries = (input.entries ?? []).map(withRunId);
  const problem = batchProblem(input.sessionId, entries, nativeSha256Hex);
  if (problem) throw refuse(problem);
  return entries;
}

/** gRPC's INVALID_ARGUMENT, which Temporal answers for a run id that is not one. */
const GRPC_INVALID_ARGUMENT = 3;
const isInvalidArgument = (err: unknown): boolean =>
  err instanceof ServiceError && isGrpcServiceError(err.cause) && Number(err.cause.code) === GRPC_INVALID_ARGUMENT;

/**
 * The stored branch a batch collided with, when it is the abandoned branch of a reset: every stored row from the
 * conflict on was written under the session's workflow id by a run other than the batch's, and Temporal confirms each
 * such run belongs to the session's execution chain (same first run; a reset keeps it). Anything else — the same run,
 * another workflow id, a run of another execution that reused the id — is null: two writers disagree.
 */
async function resetBranch(
  deps: AuditDeps,
  input: AppendAuditInput,
  batch: readonly ChainedEntry[],
  conflict: StoredConflict,
): Promise<StoredBranch | null> {
  const link = batch.find((l) => l.entry.seq === conflict.seq);
  if (!input.firstRunId || !link || !deps.temporal || conflict.writers.length === 0) return null;
  const batchRuns = new Set(batch.map((l) => l.runId));
  const workflowId = link.entry.workflowId;
  if (conflict.writers.some((w) => w.workflowId !== workflowId || batchRuns.has(w.runId))) return null;
  const client = await deps.temporal();
  for (const { runId } of conflict.writers) {
    let firstRunId: string | null | undefined;
    try {
      firstRunId = (await client.workflow.getHandle(workflowId, runId).describe()).raw.workflowExecutionInfo
        ?.firstRunId;
    } catch (err) {
      // A run Temporal does not know (past retention, or no run id at all) cannot be shown to be this session's.
      if (err instanceof WorkflowNotFoundError || isInvalidArgument(err)) return null;
      throw err;
    }
    if (firstRunId !== input.firstRunId) return null;
  }
  return { fromSeq: conflict.seq, head: conflict.head, runIds: conflict.writers.map((w) => w.runId) };
}

export interface AppendAuditInput {
  sessionId: string;
  /**
   * The first run of the session's execution chain (Temporal's `firstExecutionRunId`, which a reset keeps): stored
   * rows that conflict with the batch are the abandoned branch of a reset only when their run belongs to this chain.
   * Absent (sessions before v2), a conflict is always `ChainBroken`.
   */
  firstRunId?: string;
  /** The links in full (what sessions sent before batches were packed; still accepted). */
  entries?: StoredLink[];
  /** The links in their wire form (domain/audit-pack.ts): the activity rebuilds and checks them. */
  packed?: PackedBatch;
  /** Also write a signed checkpoint of the new head to the external sink (`enableBlockchainCommitment`). */
  checkpoint: boolean;
  /** The decisions of this flush, for their identities' kill-switch windows (sent once the entries are stored). */
  reports?: AgentReport[];
}

/** One identity's decisions in one flush. */
export interface AgentReport {
  agentDid: string;
  decisions: ReportedDecision[];
}

/**
 * What a flush did. `rebase` means nothing was written: the batch collided with the entries an abandoned run of this
 * session stored after a reset point, and the session must re-link its unpersisted entries after the stored head.
 */
export interface AppendAuditResult {
  inserted: number;
  duplicates: number;
  rebase?: StoredBranch;
}

export interface CommitAuditInput {
  commitment: SessionCommitment;
  workflowId: string;
  runId: string;
  checkpoint: boolean;
}

export interface CommitAuditResult {
  keyId: string | null;
  signature: string | null;
}

/** The audit activities: persist the session's links, store and sign its commitment, purge old payloads. */
export function createAuditActivities(deps: AuditDeps) {
  const signer = deps.signer ?? null;

  const sign = (statement: CommitmentStatement | CheckpointStatement): CommitAuditResult =>
    signer
      ? { keyId: signer.keyId, signature: signer.sign(statementBytes(statement)) }
      : { keyId: null, signature: null };

  const writeCheckpoint = async (statement: CheckpointStatement): Promise<void> => {
    // Without a sink the request cannot be honoured; a plain Error keeps retrying until one is configured.
    if (!deps.checkpointSink)
      throw new Error('enableBlockchainCommitment is set but the worker has no checkpoint sink');
    const checkpoint: SignedCheckpoint = { ...statement, ...sign(statement) };
    await deps.checkpointSink.write(checkpoint);
  };

  return {
    /**
     * Persists a batch of links handed over by the session workflow; retries are harmless (docs/DESIGN.md §5.2). A
     * batch that collides with the abandoned branch of a reset is answered with the stored head (§5.7).
     */
    async appendAuditEntries(input: AppendAuditInput): Promise<AppendAuditResult> {
      const entries = checkedLinks(input);
      const outcome =
        entries.length > 0
          ? await insertAuditBatch(deps.pool, input.sessionId, entries)
          : { inserted: 0, duplicates: 0 };
      if ('conflict' in outcome) {
        const rebase = await resetBranch(deps, input, entries, outcome.conflict);
        if (rebase) return { inserted: 0, duplicates: 0, rebase };
        const { seq, storedHash, hash } = outcome.conflict;
        deps.onFault?.();
        throw hvError(
          ErrorType.ChainBroken,
          `audit chain of session ${input.sessionId} already holds a different entry ${seq}`,
          { sessionId: input.sessionId, seq, storedHash, hash },
        );
      }
      const out = outcome;
      await reportDecisions(deps, input.sessionId, input.reports ?? []);
      deps.onEntries?.('inserted', out.inserted);
      deps.onEntries?.('duplicate', out.duplicates);
      const storedAtMs = Date.now();
      for (const link of entries) deps.onPersisted?.(Math.max(0, storedAtMs - link.entry.recordedAtMs) / 1000);
      const last = entries.at(-1);
      if (input.checkpoint && last)
        await writeCheckpoint({
          format: CHECKPOINT_FORMAT,
          sessionId: input.sessionId,
          size: last.entry.seq,
          root: last.hash,
          final: false,
          atMs: last.entry.recordedAtMs,
        });
      return out;
    },

    /** Stores (and signs, when a key is configured) the commitment a session makes when it ends. */
    async commitSessionAudit(input: CommitAuditInput): Promise<CommitAuditResult> {
      const c = input.commitment;
      const statement = commitmentStatement(c);
      const signed = sign(statement);
      const { format: _format, ...committed } = statement;
      await insertCommitment(deps.pool, {
        ...committed,
        reason: c.reason,
        workflowId: input.workflowId,
        runId: input.runId,
        ...signed,
      });
      if (input.checkpoint)
        await writeCheckpoint({
          format: CHECKPOINT_FORMAT,
          sessionId: c.sessionId,
          size: c.entryCount,
          root: c.root,
          final: true,
          atMs: c.terminatedAtMs,
        });
      return signed;
    },

    /** Retention: drops payloads older than `retentionDays` (hashes and commitments stay). */
    async purgeAuditPayloads(input: { retentionDays: number; nowMs: number }): Promise<{ purged: number }> {
      if (!(input.retentionDays > 0)) throw hvError(ErrorType.InvalidInput, 'retentionDays must be positive');
      return { purged: await purgePayloadsBefore(deps.pool, retentionCutoffMs(input.nowMs, input.retentionDays)) };
    },
  };
}
