import { GENESIS_HASH, canonicalJson, hashedEntry, sha256Hex } from './audit-chain.js';
import { CHAIN_REBASED_KIND, rebaseNote } from './audit-rebase.js';

/** One audit row as the store returns it. `payload` is the exact canonical text that was hashed, or null once purged. */
export interface StoredEntry {
  seq: number;
  format: string;
  kind: string;
  agentDid: string | null;
  payloadHash: string;
  payload: string | null;
  recordedAtMs: number;
  workflowId: string;
  runId: string;
  prevHash: string;
  hash: string;
}

export type SignatureStatus = 'valid' | 'invalid' | 'unsigned' | 'unchecked';

/** A statement about the chain's head that lives somewhere else: the commitment row, the workflow result, a checkpoint. */
export interface Anchor {
  source: string;
  /** A final anchor (commitment, workflow result, final checkpoint) says the chain ends at `size`. */
  final: boolean;
  size: number;
  root: string;
  signature: SignatureStatus;
}

export type AuditProblemKind =
  | 'modified'
  | 'payload_modified'
  | 'missing'
  | 'relinked'
  | 'truncated'
  | 'extra'
  | 'rewritten'
  | 'bad_signature'
  | 'anchor_disagreement';

export interface AuditProblem {
  kind: AuditProblemKind;
  /** The first entry the problem shows at, when the evidence can name one. */
  seq: number | null;
  message: string;
}

export interface AuditVerification {
  sessionId: string;
  ok: boolean;
  entries: number;
  lastSeq: number;
  head: string;
  purgedPayloads: number;
  anchors: Array<Anchor & { matches: boolean }>;
  /** The first problem in chain order, or null when the chain verifies. */
  firstBad: AuditProblem | null;
  problems: AuditProblem[];
  warnings: string[];
}

/** Problems listed per run; the count of anything beyond is still reported. */
export const MAX_REPORTED_PROBLEMS = 50;

/**
 * Streaming verifier for one session's chain: feed rows in seq order, then `finish`. Memory stays constant: only the
 * stored hashes at the anchored sizes are kept. After a problem it re-synchronises on the stored hashes, so one altered
 * row yields one problem rather than a cascade.
 *
 * What a hash chain alone can show (docs/DESIGN.md §R10): a changed, deleted, reordered or inserted row *in the
 * middle*. Truncation of the tail and a fully recomputed rewrite are only visible against an anchor kept elsewhere,
 * which is what `anchors` are for.
 */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash: string | null = GENESIS_HASH;
  private lastSeq = 0;
  private head = GENESIS_HASH;
  private count = 0;
  private purged = 0;
  private omitted = 0;
  private readonly problems: AuditProblem[] = [];
  private readonly rebases: string[] = [];
  private readonly hashesAt = new Map<number, string>();
  private readonly wanted: Set<number>;

  /** `hash` may be a native SHA-256 on the node side; it must compute the same digest as {@link sha256Hex}. */
  constructor(
    readonly sessionId: string,
    private readonly anchors: readonly Anchor[] = [],
    private readonly hash: (text: string) => string = sha256Hex,
  ) {
    this.wanted = new Set(anchors.map((a) => a.size));
  }

  get entriesSeen(): number {
    return this.count;
  }

  feed(row: StoredEntry): void {
    this.count += 1;
    if (row.seq < this.expectedSeq) {
      this.report({ kind: 'extra', seq: row.seq, message: `entry ${row.seq} appears twice` });
      return;
    }
    let linkKnown = this.prevHash !== null;
    if (row.seq > this.expectedSeq) {
      const missing = row.seq - this.expectedSeq;
      this.report({
        kind: 'missing',
        seq: this.expectedSeq,
        message:
          missing === 1
            ? `entry ${this.expectedSeq} is missing`
            : `entries ${this.expectedSeq}–${row.seq - 1} are missing (${missing} entries)`,
      });
      linkKnown = false;
    }
    if (row.payload === null) this.purged += 1;
    // Each row is checked in its own format: a session that ran across the upgrade holds v1 rows, then v2 rows.
    const entry = hashedEntry(this.sessionId, row);
    if (entry === null) {
      this.report({ kind: 'modified', seq: row.seq, message: `entry ${row.seq} has unknown format "${row.format}"` });
    } else if (this.hash(`${row.prevHash}\n${canonicalJson(entry)}`) !== row.hash) {
      this.report({
        kind: 'modified',
        seq: row.seq,
        message: `entry ${row.seq} does not match its hash: its content, position or hash was altered`,
      });
    } else if (row.payload !== null && this.hash(row.payload) !== row.payloadHash) {
      this.report({ kind: 'payload_modified', seq: row.seq, message: `entry ${row.seq}: payload was altered` });
    } else if (linkKnown && row.prevHash !== this.prevHash) {
      this.report({
        kind: 'relinked',
        seq: row.seq,
        message:
          `entry ${row.seq} does not link to entry ${row.seq - 1}: entry ${row.seq - 1} was altered and re-hashed, ` +
          `or entries were inserted or removed before entry ${row.seq}`,
      });
    }
    if (row.kind === CHAIN_REBASED_KIND && this.rebases.length < MAX_REPORTED_PROBLEMS)
      this.rebases.push(rebaseNote(row.seq, row.payload));
    if (this.wanted.has(row.seq)) this.hashesAt.set(row.seq, row.hash);
    this.prevHash = row.hash;
    this.head = row.hash;
    this.lastSeq = row.seq;
    this.expectedSeq = row.seq + 1;
  }

  finish(): AuditVerification {
    const checked = this.anchors.map((anchor) => ({ ...anchor, matches: this.anchorMatches(anchor) }));
    for (const anchor of checked) {
      if (anchor.signature === 'invalid')
        this.report(
          {
            kind: 'bad_signature',
            seq: null,
            message: `the signature of the ${anchor.source} does not verify: it was altered, stripped or signed by an unknown key`,
          },
          true,
        );
    }
    this.reportAnchorProblems(checked);
    const warnings = this.warnings(checked);
    const problems = [...this.problems].sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
    return {
      sessionId: this.sessionId,
      ok: problems.length === 0,
      entries: this.count,
      lastSeq: this.lastSeq,
      head: this.head,
      purgedPayloads: this.purged,
      anchors: checked,
      firstBad: problems[0] ?? null,
      problems,
      warnings,
    };
  }

  /** Truncation, rewrites, appends after the commitment, and anchors that disagree, as the anchors show them. */
  private reportAnchorProblems(checked: Array<Anchor & { matches: boolean }>): void {
    const trusted = checked.filter((a) => a.signature !== 'invalid').sort((a, b) => a.size - b.size);
    const longest = trusted.at(-1);
    if (longest && this.lastSeq < longest.size) {
      this.report(
        {
          kind: 'truncated',
          seq: this.lastSeq + 1,
          message: `the chain ends at entry ${this.lastSeq} but the ${longest.source} covers ${longest.size} entries`,
        },
        true,
      );
    }
    const firstMismatch = trusted.find((a) => a.size <= this.lastSeq && !a.matches);
    if (firstMismatch) {
      const lastGood = trusted.filter((a) => a.size < firstMismatch.size && a.matches).at(-1);
      const from = (lastGood?.size ?? 0) + 1;
      // When the chain itself already shows a problem at or before the anchor, that problem explains the mismatch
      // and names the row; the anchor mismatch is still listed, without claiming a position of its own.
      const explained = this.problems.some((p) => p.seq !== null && p.seq <= firstMismatch.size);
      this.report(
        {
          kind: 'rewritten',
          seq: explained ? null : from,
          message:
            `entries ${from}–${firstMismatch.size} were rewritten: the stored hash at entry ${firstMismatch.size} ` +
            `differs from the ${firstMismatch.source}`,
        },
        true,
      );
    }
    const final = trusted.filter((a) => a.final);
    if (final.length > 0 && this.lastSeq > Math.max(...final.map((a) => a.size))) {
      const size = Math.max(...final.map((a) => a.size));
      this.report(
        {
          kind: 'extra',
          seq: size + 1,
          message: `entries after ${size} were appended after the session committed to ${size} entries`,
        },
        true,
      );
    }
    const roots = new Map(final.map((a) => [`${a.size}:${a.root}`, a.source]));
    if (roots.size > 1)
      this.report(
        {
          kind: 'anchor_disagreement',
          seq: null,
          message: `the anchors disagree: ${final.map((a) => `${a.source} says ${a.size} entries, root ${a.root.slice(0, 12)}…`).join('; ')}`,
        },
        true,
      );
  }

  private warnings(checked: Array<Anchor & { matches: boolean }>): string[] {
    const warnings: string[] = [];
    if (checked.length === 0)
      warnings.push('no commitment or checkpoint anchors the head: truncation and a recomputed rewrite cannot be seen');
    else if (!checked.some((a) => a.signature === 'valid'))
      warnings.push('no anchor signature was verified (no trusted public key, or the anchors are unsigned)');
    if (this.purged > 0) warnings.push(`${this.purged} payloads were purged by retention; their hashes still verify`);
    warnings.push(...this.rebases);
    if (this.omitted > 0) warnings.push(`${this.omitted} further problems were not listed`);
    return warnings;
  }

  private anchorMatches(anchor: Anchor): boolean {
    if (anchor.size === 0) return anchor.root === GENESIS_HASH;
    return this.hashesAt.get(anchor.size) === anchor.root;
  }

  /** Row problems are capped; the verdicts of `finish` (anchors, signatures) are always listed. */
  private report(problem: AuditProblem, always = false): void {
    if (always || this.problems.length < MAX_REPORTED_PROBLEMS) this.problems.push(problem);
    else this.omitted += 1;
  }
}
