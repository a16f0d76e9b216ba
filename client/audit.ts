import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { canonicalJson, commitmentStatement, statementBytes } from '../domain/audit-chain.js';
import { ChainVerifier, type Anchor, type AuditVerification, type StoredEntry } from '../domain/audit-verify.js';
import { ErrorType } from '../domain/errors.js';
import type { SessionCommitment } from '../domain/session-types.js';
import { auditSessionKnown, readCommitment, streamAuditEntries } from '../store/audit.js';
import { TrustedKeys, nativeSha256Hex } from '../store/audit-crypto.js';
import { readCheckpoints } from '../store/checkpoint-sink.js';
import type { Pool } from '../store/db.js';
import { HypervisorError } from './errors.js';

export interface VerifyAuditOptions {
  pool: Pool;
  /** Public keys trusted to sign commitments and checkpoints. Without any, signatures are reported as unchecked. */
  trustedKeys?: TrustedKeys;
  /** A directory checkpoint sink to read this session's signed checkpoints from. */
  checkpointDir?: string | null;
  /** The commitment the session workflow returned (kept by Temporal, a separate trust domain from the database). */
  workflowCommitment?: SessionCommitment | null;
  /** Treat an unsigned commitment or checkpoint as invalid (a stripped signature is then caught). */
  requireSignatures?: boolean;
  /** Called every `progressEvery` entries with the number verified so far. */
  onProgress?: (entriesVerified: number) => void;
  progressEvery?: number;
}

export interface VerifyAuditReport extends AuditVerification {
  checkpointsMalformed: number;
}

/**
 * Recomputes a session's chain from Postgres, streaming, and checks it against every anchor it can find: the
 * commitment row and its signature, the workflow's own result, and the external checkpoints. Throws `NotFound` when
 * the store has nothing for the session.
 */
export async function verifyAuditChain(sessionId: string, options: VerifyAuditOptions): Promise<VerifyAuditReport> {
  const stored = await readCommitment(options.pool, sessionId);
  const { anchors, checkpointsMalformed } = await gatherAnchors(sessionId, { ...options, stored });
  if (anchors.length === 0 && !(await auditSessionKnown(options.pool, sessionId)))
    throw new HypervisorError(ErrorType.NotFound, `no audit entries for session ${sessionId}`, { sessionId });
  return verifyRows(sessionId, streamAuditEntries(options.pool, sessionId), anchors, checkpointsMalformed, options);
}

/**
 * Verifies a chain exported with `hv audit export` (JSON Lines), offline: no database, no Temporal. Anchors are the
 * checkpoints in `checkpointDir` and, when given, a commitment (e.g. the workflow result kept elsewhere).
 */
export async function verifyExportFile(
  file: string,
  options: Omit<VerifyAuditOptions, 'pool'> = {},
): Promise<VerifyAuditReport> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new HypervisorError(ErrorType.InvalidInput, `${file} holds no audit entries`);
  const parse = (line: string, n: number): ExportedEntry => {
    try {
      return JSON.parse(line) as ExportedEntry;
    } catch {
      throw new HypervisorError(ErrorType.InvalidInput, `${file}:${n}: not a JSON line`);
    }
  };
  const head = parse(first.value, 1);
  const sessionId = head.sessionId;
  const { anchors, checkpointsMalformed } = await gatherAnchors(sessionId, { ...options, stored: null });
  async function* rows(): AsyncGenerator<StoredEntry> {
    let n = 1;
    for (let entry = head; ;) {
      if (entry.sessionId !== sessionId)
        throw new HypervisorError(
          ErrorType.InvalidInput,
          `${file}:${n}: entry of another session (${entry.sessionId})`,
        );
      yield {
        seq: entry.seq,
        format: entry.format,
        kind: entry.kind,
        agentDid: entry.agentDid,
        payloadHash: entry.payloadHash,
        // The hashed bytes are the canonical form, which parsing and re-canonicalising reproduces exactly.
        payload: entry.payloadPurged ? null : canonicalJson(entry.payload),
        recordedAtMs: entry.recordedAtMs,
        workflowId: entry.workflowId,
        runId: entry.runId,
        prevHash: entry.prevHash,
        hash: entry.hash,
      };
      let next = await iterator.next();
      n += 1;
      while (!next.done && !next.value.trim()) next = await iterator.next();
      if (next.done) return;
      entry = parse(next.value, n);
    }
  }
  return verifyRows(sessionId, rows(), anchors, checkpointsMalformed, options);
}

async function gatherAnchors(
  sessionId: string,
  options: Omit<VerifyAuditOptions, 'pool'> & { stored: Awaited<ReturnType<typeof readCommitment>> },
): Promise<{ anchors: Anchor[]; checkpointsMalformed: number }> {
  const keys = options.trustedKeys ?? TrustedKeys.fromPems([]);
  const check = (keyId: string | null, signature: string | null, bytes: string) => {
    const status = keys.check(keyId, signature, bytes);
    return status === 'unsigned' && options.requireSignatures ? ('invalid' as const) : status;
  };
  const anchors: Anchor[] = [];
  const stored = options.stored;
  if (stored)
    anchors.push({
      source: 'commitment',
      final: true,
      size: stored.entryCount,
      root: stored.root,
      signature: check(stored.keyId, stored.signature, statementBytes(commitmentStatement(stored))),
    });
  const fromWorkflow = options.workflowCommitment;
  if (fromWorkflow)
    anchors.push({
      source: 'workflow result',
      final: true,
      size: fromWorkflow.entryCount,
      root: fromWorkflow.root,
      signature: check(
        fromWorkflow.keyId ?? null,
        fromWorkflow.signature ?? null,
        statementBytes(commitmentStatement(fromWorkflow)),
      ),
    });
  let checkpointsMalformed = 0;
  if (options.checkpointDir) {
    const { checkpoints, malformed } = await readCheckpoints(options.checkpointDir, sessionId);
    checkpointsMalformed = malformed;
    for (const { keyId, signature, ...statement } of checkpoints)
      anchors.push({
        source: `${statement.final ? 'final ' : ''}checkpoint at ${statement.size}`,
        final: statement.final,
        size: statement.size,
        root: statement.root,
        signature: check(keyId, signature, statementBytes(statement)),
      });
  }
  return { anchors, checkpointsMalformed };
}

async function verifyRows(
  sessionId: string,
  rows: AsyncIterable<StoredEntry>,
  anchors: Anchor[],
  checkpointsMalformed: number,
  options: Pick<VerifyAuditOptions, 'onProgress' | 'progressEvery'>,
): Promise<VerifyAuditReport> {
  const verifier = new ChainVerifier(sessionId, anchors, nativeSha256Hex);
  const every = options.progressEvery ?? 10_000;
  for await (const row of rows) {
    verifier.feed(row);
    if (options.onProgress && verifier.entriesSeen % every === 0) options.onProgress(verifier.entriesSeen);
  }
  const report = verifier.finish();
  if (checkpointsMalformed > 0)
    report.warnings.push(`${checkpointsMalformed} checkpoint lines were malformed and ignored`);
  return { ...report, checkpointsMalformed };
}

/** One line of `hv audit export`: every stored column, with the payload parsed back to JSON (null once purged). */
export interface ExportedEntry {
  sessionId: string;
  seq: number;
  format: string;
  kind: string;
  agentDid: string | null;
  recordedAtMs: number;
  recordedAt: string;
  workflowId: string;
  runId: string;
  payloadHash: string;
  payload: unknown;
  payloadPurged: boolean;
  prevHash: string;
  hash: string;
}

/** Streams a session's chain as export records, in seq order (after `afterSeq`, when given). */
export async function* exportAuditEntries(
  pool: Pool,
  sessionId: string,
  options: { afterSeq?: number } = {},
): AsyncGenerator<ExportedEntry> {
  for await (const row of streamAuditEntries(pool, sessionId, { afterSeq: options.afterSeq })) {
    yield {
      sessionId,
      seq: row.seq,
      format: row.format,
      kind: row.kind,
      agentDid: row.agentDid,
      recordedAtMs: row.recordedAtMs,
      recordedAt: new Date(row.recordedAtMs).toISOString(),
      workflowId: row.workflowId,
      runId: row.runId,
      payloadHash: row.payloadHash,
      payload: row.payload === null ? null : (JSON.parse(row.payload) as unknown),
      payloadPurged: row.payload === null,
      prevHash: row.prevHash,
      hash: row.hash,
    };
  }
}
