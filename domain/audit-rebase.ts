/**
 * Continuing a chain after a Temporal reset (docs/DESIGN.md §5.7). A reset starts a new run that replays the old run's
 * history up to the reset point and goes on from there, so the entries the old run recorded and persisted after that
 * point are in the store but not in the new run's chain, and the new run's next entries would take their seq numbers.
 * The store reports its head instead of refusing the batch; the session records a `chain_rebased` marker after the
 * stored head and re-links its unpersisted entries after the marker. Nothing stored is changed: the abandoned entries
 * stay in the chain, which verifies from genesis to the new head.
 */
import {
  appendEntry,
  entryHash,
  sha256Hex,
  type ChainHead,
  type ChainedEntry,
  type Json,
  type NewEntry,
} from './audit-chain.js';

/** Kind of the marker entry that records a rebase. */
export const CHAIN_REBASED_KIND = 'chain_rebased';

/**
 * What the store answers when a batch collides with the abandoned branch of a reset: the first seq at which the stored
 * chain and the batch differ, the stored head, and the runs that wrote the stored entries from `fromSeq` on.
 */
export interface StoredBranch {
  fromSeq: number;
  head: ChainHead;
  runIds: string[];
}

/** The marker's payload: what was abandoned, where the chain goes on, and which of this run's entries moved. */
export interface RebasePayload {
  [key: string]: Json;
  reason: 'workflow_reset';
  abandoned: { fromSeq: number; toSeq: number; runIds: string[] };
  storedHead: { seq: number; hash: string };
  relinked: { fromSeq: number; count: number };
}

export interface RebaseResult {
  /** Unpersisted links before `fromSeq`: the store already holds each of them, hash for hash. */
  stored: ChainedEntry[];
  /** The marker followed by the re-linked entries, in order: the new unpersisted tail. */
  links: ChainedEntry[];
  /** The chain head after the last re-linked entry (the marker when nothing moved). */
  head: ChainHead;
  /** The new position of an entry that was at `seq` before the rebase (unchanged below `fromSeq`). */
  seqOf: (seq: number) => number;
}

/**
 * Re-links `links` (consecutive, in order) one after another from `onto`. Each keeps its entry (kind, agent, time,
 * payload hash, format, and a v1 entry's hashed run id) and its run id; only the position and the two hashes change.
 * One hash per link: the payload hash is kept, not recomputed.
 */
export function relinkAfter(
  onto: ChainHead,
  links: readonly ChainedEntry[],
  hash: (text: string) => string = sha256Hex,
): { head: ChainHead; links: ChainedEntry[] } {
  let head = onto;
  const out = links.map((link): ChainedEntry => {
    const entry = { ...link.entry, seq: head.seq + 1 };
    const linkHash = entryHash(head.hash, entry, hash);
    const moved = { ...link, entry, prevHash: head.hash, hash: linkHash };
    head = { seq: entry.seq, hash: linkHash };
    return moved;
  });
  return { head, links: out };
}

/**
 * Rebases the unpersisted links of a run onto the stored head of its chain: the links before `branch.fromSeq` are
 * already stored; a marker entry (`marker`, kind {@link CHAIN_REBASED_KIND}, payload built here) goes after the stored
 * head; the links from `fromSeq` on follow it. Pure: the caller keeps the returned links and head.
 */
export function rebasePending(
  pending: readonly ChainedEntry[],
  branch: StoredBranch,
  marker: Omit<NewEntry, 'kind' | 'payload' | 'agentDid'>,
  hash: (text: string) => string = sha256Hex,
): RebaseResult {
  const stored = pending.filter((link) => link.entry.seq < branch.fromSeq);
  const moving = pending.filter((link) => link.entry.seq >= branch.fromSeq);
  const payload: RebasePayload = {
    reason: 'workflow_reset',
    abandoned: { fromSeq: branch.fromSeq, toSeq: branch.head.seq, runIds: branch.runIds },
    storedHead: { seq: branch.head.seq, hash: branch.head.hash },
    relinked: { fromSeq: branch.fromSeq, count: moving.length },
  };
  const recorded = appendEntry(branch.head, { ...marker, kind: CHAIN_REBASED_KIND, agentDid: null, payload }, hash);
  const relinked = relinkAfter(recorded.head, moving, hash);
  const shift = recorded.head.seq + 1 - branch.fromSeq;
  return {
    stored,
    links: [recorded.chained, ...relinked.links],
    head: relinked.head,
    seqOf: (seq) => (seq >= branch.fromSeq ? seq + shift : seq),
  };
}

/** One line for a verification report: what a `chain_rebased` entry says (its payload may have been purged). */
export function rebaseNote(seq: number, payload: string | null): string {
  const parsed = parsePayload(payload);
  if (!parsed) return `entry ${seq} records a rebase after a workflow reset (its payload is not readable)`;
  const { abandoned } = parsed;
  const runs = abandoned.runIds.length > 0 ? ` by run ${abandoned.runIds.join(', ')}` : '';
  return (
    `entry ${seq} (chain_rebased): entries ${abandoned.fromSeq}–${abandoned.toSeq}, recorded${runs}, were abandoned ` +
    `by a reset of the workflow; the reset run's entries continue after them`
  );
}

function parsePayload(payload: string | null): RebasePayload | null {
  if (payload === null) return null;
  try {
    const parsed = JSON.parse(payload) as Partial<RebasePayload> | null;
    const abandoned = parsed?.abandoned;
    if (
      !abandoned ||
      typeof abandoned.fromSeq !== 'number' ||
      typeof abandoned.toSeq !== 'number' ||
      !Array.isArray(abandoned.runIds)
    )
      return null;
    return parsed as RebasePayload;
  } catch {
    return null;
  }
}
