/**
 * The wire form of an audit batch, from the session workflow to the audit activity: only what the store cannot
 * recompute. The hashes, and the format, session and workflow ids of every link, are left out (≈330 of ≈480 bytes of
 * a decision's link, written into the session's history once per link; the format and workflow id are stated once per
 * batch); the activity rebuilds the links with a native SHA-256 and accepts the batch only when its rebuilt chain ends
 * at the head the workflow computed.
 */
import {
  AUDIT_FORMAT_V1,
  appendEntry,
  isAuditFormat,
  type AuditFormat,
  type ChainedEntry,
  type Json,
  type Sha256Hex,
} from './audit-chain.js';

/** One link: its position, kind, agent, time and payload, and its run id when it differs from the batch's. */
export type PackedLink =
  | [seq: number, kind: string, agentDid: string | null, recordedAtMs: number, payload: Json]
  | [seq: number, kind: string, agentDid: string | null, recordedAtMs: number, payload: Json, runId: string];

export interface PackedBatch {
  /** The format of every link of the batch; absent means v1 (what sessions sent before v2). */
  format?: AuditFormat;
  workflowId: string;
  runId: string;
  /** The hash the first link follows. */
  prevHash: string;
  /** The hash of the last link, as the workflow computed it. */
  headHash: string;
  links: PackedLink[];
}

/** How many links from the start of `links` share the first one's format: one packed batch holds one format. */
export function sameFormatRun(links: readonly ChainedEntry[]): number {
  const format = links[0]?.entry.format;
  const other = links.findIndex((link) => link.entry.format !== format);
  return other === -1 ? links.length : other;
}

/**
 * Packs a non-empty run of consecutive links of one format (see {@link sameFormatRun}); a link of another format
 * would be rebuilt in the batch's format, and the store would refuse the batch as not ending at its head.
 */
export function packBatch(links: readonly ChainedEntry[]): PackedBatch {
  const first = links[0]!;
  const { format, workflowId } = first.entry;
  const { runId } = first;
  return {
    ...(format === AUDIT_FORMAT_V1 ? {} : { format }),
    workflowId,
    runId,
    prevHash: first.prevHash,
    headHash: links[links.length - 1]!.hash,
    links: links.map((chained): PackedLink => {
      const { entry, payload } = chained;
      const link: PackedLink = [entry.seq, entry.kind, entry.agentDid, entry.recordedAtMs, payload];
      return chained.runId === runId ? link : [...link, chained.runId];
    }),
  };
}

/**
 * Rebuilds the links of a packed batch of `sessionId`. Returns the problem when the positions do not follow each other
 * or the rebuilt chain does not end at `headHash` (the workflow and the store disagree on a link).
 */
export function unpackBatch(
  sessionId: string,
  batch: PackedBatch,
  hash: Sha256Hex,
): { links: ChainedEntry[] } | { problem: string } {
  const out: ChainedEntry[] = [];
  const format = batch.format ?? AUDIT_FORMAT_V1;
  if (!isAuditFormat(format)) return { problem: `unknown format ${String(format)}` };
  let head = { seq: (batch.links[0]?.[0] ?? 1) - 1, hash: batch.prevHash };
  for (const [seq, kind, agentDid, recordedAtMs, payload, runId] of batch.links) {
    if (seq !== head.seq + 1) return { problem: `entry ${seq} does not follow entry ${head.seq}` };
    const next = appendEntry(
      head,
      {
        sessionId,
        kind,
        agentDid,
        payload,
        recordedAtMs,
        workflowId: batch.workflowId,
        runId: runId ?? batch.runId,
        format,
      },
      hash,
    );
    head = next.head;
    out.push(next.chained);
  }
  if (head.hash !== batch.headHash)
    return { problem: `the rebuilt chain ends at ${head.hash}, the session's at ${batch.headHash}` };
  return { links: out };
}
