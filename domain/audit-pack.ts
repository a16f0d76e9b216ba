/**
 * The wire form of an audit batch, from the session workflow to the audit activity: only what the store cannot
 * recompute. The hashes, the format, the session and workflow ids of every link are left out (≈330 of ≈480 bytes of a
 * decision's link, written into the session's history once per link); the activity rebuilds the links with a native
 * SHA-256 and accepts the batch only when its rebuilt chain ends at the head the workflow computed.
 */
import { appendEntry, type ChainedEntry, type Json, type Sha256Hex } from './audit-chain.js';

/** One link: its position, kind, agent, time and payload, and its run id when it differs from the batch's. */
export type PackedLink =
  | [seq: number, kind: string, agentDid: string | null, recordedAtMs: number, payload: Json]
  | [seq: number, kind: string, agentDid: string | null, recordedAtMs: number, payload: Json, runId: string];

export interface PackedBatch {
  workflowId: string;
  runId: string;
  /** The hash the first link follows. */
  prevHash: string;
  /** The hash of the last link, as the workflow computed it. */
  headHash: string;
  links: PackedLink[];
}

/** Packs a non-empty run of consecutive links. */
export function packBatch(links: readonly ChainedEntry[]): PackedBatch {
  const first = links[0]!;
  const { workflowId, runId } = first.entry;
  return {
    workflowId,
    runId,
    prevHash: first.prevHash,
    headHash: links[links.length - 1]!.hash,
    links: links.map(({ entry, payload }): PackedLink => {
      const link: PackedLink = [entry.seq, entry.kind, entry.agentDid, entry.recordedAtMs, payload];
      return entry.runId === runId ? link : [...link, entry.runId];
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
  let head = { seq: (batch.links[0]?.[0] ?? 1) - 1, hash: batch.prevHash };
  for (const [seq, kind, agentDid, recordedAtMs, payload, runId] of batch.links) {
    if (seq !== head.seq + 1) return { problem: `entry ${seq} does not follow entry ${head.seq}` };
    const next = appendEntry(
      head,
      { sessionId, kind, agentDid, payload, recordedAtMs, workflowId: batch.workflowId, runId: runId ?? batch.runId },
      hash,
    );
    head = next.head;
    out.push(next.chained);
  }
  if (head.hash !== batch.headHash)
    return { problem: `the rebuilt chain ends at ${head.hash}, the session's at ${batch.headHash}` };
  return { links: out };
}
