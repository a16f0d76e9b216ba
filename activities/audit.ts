import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  CHECKPOINT_FORMAT,
  batchProblem,
  commitmentStatement,
  statementBytes,
  type ChainedEntry,
  type CheckpointStatement,
  type CommitmentStatement,
} from '../domain/audit-chain.js';
import { unpackBatch, type PackedBatch } from '../domain/audit-pack.js';
import { ErrorType, hvError } from '../domain/errors.js';
import { isAnonymous, type ReportedDecision } from '../domain/kill-switch.js';
import { retentionCutoffMs } from '../domain/retention.js';
import type { SessionCommitment } from '../domain/session-types.js';
import { insertAuditBatch, insertCommitment, purgePayloadsBefore } from '../store/audit.js';
import { nativeSha256Hex, type AuditSigner } from '../store/audit-crypto.js';
import type { CheckpointSink, SignedCheckpoint } from '../store/checkpoint-sink.js';
import type { Pool } from '../store/db.js';
import { agentWorkflowId, reportDecisionsSignal } from '../workflows/messages.js';

export interface AuditDeps {
  pool: Pool;
  signer?: AuditSigner | null;
  checkpointSink?: CheckpointSink | null;
  onEntries?: (outcome: 'inserted' | 'duplicate', count: number) => void;
  /** Reaches the identities' agent workflows with the decisions of each flush. */
  temporal?: () => Promise<Client>;
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
    live.map((r) =>
      client.workflow
        .getHandle(agentWorkflowId(r.agentDid))
        .signal(reportDecisionsSignal, { sessionId, decisions: r.decisions })
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }),
    ),
  );
}

export interface AppendAuditInput {
  sessionId: string;
  /** The links in full (what sessions sent before batches were packed; still accepted). */
  entries?: ChainedEntry[];
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
    /** Persists a batch of links handed over by the session workflow; retries are harmless (docs/DESIGN.md §5.2). */
    async appendAuditEntries(input: AppendAuditInput): Promise<{ inserted: number; duplicates: number }> {
      // The batch is rebuilt or re-checked before anything is written: a bad link must never reach the table.
      const refuse = (problem: string) =>
        hvError(ErrorType.ChainBroken, `refusing audit batch: ${problem}`, { sessionId: input.sessionId });
      let entries = input.entries ?? [];
      if (input.packed) {
        const unpacked = unpackBatch(input.sessionId, input.packed, nativeSha256Hex);
        if ('problem' in unpacked) throw refuse(unpacked.problem);
        entries = unpacked.links;
      } else {
        const problem = batchProblem(input.sessionId, entries, nativeSha256Hex);
        if (problem) throw refuse(problem);
      }
      const out =
        entries.length > 0
          ? await insertAuditBatch(deps.pool, input.sessionId, entries)
          : { inserted: 0, duplicates: 0 };
      await reportDecisions(deps, input.sessionId, input.reports ?? []);
      deps.onEntries?.('inserted', out.inserted);
      deps.onEntries?.('duplicate', out.duplicates);
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
