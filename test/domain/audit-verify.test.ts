import { describe, expect, it } from 'vitest';
import {
  AUDIT_FORMAT_V1,
  appendEntry,
  canonicalJson,
  entryHash,
  genesisHead,
  hashedEntry,
  sha256Hex,
  type AuditEntry,
  type ChainHead,
  type ChainedEntry,
  type NewEntry,
} from '../../domain/audit-chain.js';
import { rebasePending } from '../../domain/audit-rebase.js';
import {
  ChainVerifier,
  MAX_REPORTED_PROBLEMS,
  type Anchor,
  type AuditProblem,
  type AuditVerification,
  type StoredEntry,
} from '../../domain/audit-verify.js';

const SESSION = 'verify-test';

/** The input of entry `seq` (1-based) of the test chain. */
function input(seq: number, overrides: Partial<NewEntry> = {}): NewEntry {
  return {
    sessionId: SESSION,
    kind: ['join', 'decision', 'elevation', 'leave'][seq % 4]!,
    agentDid: seq === 1 ? null : `did:mesh:agent-${seq % 3}`,
    payload: { seq, note: `entry ${seq} ✓`, list: [seq, null, { b: true, a: 'x' }] },
    recordedAtMs: 1_735_689_600_000 + seq * 1_000,
    workflowId: `session:${SESSION}`,
    runId: 'run-a',
    ...overrides,
  };
}

/** The row the store returns for one link. */
function toRow(link: ChainedEntry): StoredEntry {
  const { entry } = link;
  return {
    seq: entry.seq,
    format: entry.format,
    kind: entry.kind,
    agentDid: entry.agentDid,
    payloadHash: entry.payloadHash,
    payload: canonicalJson(link.payload),
    recordedAtMs: entry.recordedAtMs,
    workflowId: entry.workflowId,
    runId: link.runId,
    prevHash: link.prevHash,
    hash: link.hash,
  };
}

/** Appends `inputs` in order from `head`; returns the stored rows and the final head. */
function chainOf(
  inputs: readonly NewEntry[],
  head: ChainHead = genesisHead(),
): { rows: StoredEntry[]; head: ChainHead } {
  const rows: StoredEntry[] = [];
  for (const next of inputs) {
    const out = appendEntry(head, next);
    head = out.head;
    rows.push(toRow(out.chained));
  }
  return { rows, head };
}

/** Inputs of entries 1..n. */
const inputs = (n: number): NewEntry[] => Array.from({ length: n }, (_, i) => input(i + 1));

/** A fresh, intact chain of `n` entries. */
const intact = (n = 10) => chainOf(inputs(n));

/** The hashed entry a stored row stands for, in the row's format. */
const entryOf = (row: StoredEntry): AuditEntry => hashedEntry(SESSION, row)!;

/** What an attacker with write access does: re-links `row` after `prevHash` with a correct hash. */
const rehash = (row: StoredEntry, prevHash: string): StoredEntry => ({
  ...row,
  prevHash,
  hash: entryHash(prevHash, entryOf(row)),
});

/** Replaces `row`'s payload with `payload`, keeping payload text and payload hash consistent. */
const withPayload = (row: StoredEntry, payload: unknown): StoredEntry => {
  const text = canonicalJson(payload);
  return { ...row, payload: text, payloadHash: sha256Hex(text) };
};

function verify(rows: readonly StoredEntry[], anchors: readonly Anchor[] = []): AuditVerification {
  const verifier = new ChainVerifier(SESSION, anchors);
  for (const row of rows) verifier.feed(row);
  expect(verifier.entriesSeen).toBe(rows.length);
  return verifier.finish();
}

/** The row at `seq` (1-based). */
const at = (rows: readonly StoredEntry[], seq: number): StoredEntry => {
  const row = rows.find((r) => r.seq === seq);
  if (!row) throw new Error(`no row ${seq}`);
  return row;
};

const commitment = (size: number, root: string, signature: Anchor['signature'] = 'valid'): Anchor => ({
  source: 'commitment',
  final: true,
  size,
  root,
  signature,
});

const checkpoint = (size: number, root: string): Anchor => ({
  source: `checkpoint at ${size}`,
  final: false,
  size,
  root,
  signature: 'valid',
});

const kinds = (result: AuditVerification): Array<Pick<AuditProblem, 'kind' | 'seq'>> =>
  result.problems.map(({ kind, seq }) => ({ kind, seq }));

describe('ChainVerifier on an intact chain', () => {
  it('verifies a chain of 10 entries against a valid final commitment', () => {
    const { rows, head } = intact();
    const result = verify(rows, [commitment(10, head.hash)]);
    expect(result).toMatchObject({
      sessionId: SESSION,
      ok: true,
      entries: 10,
      lastSeq: 10,
      head: head.hash,
      purgedPayloads: 0,
      firstBad: null,
      problems: [],
    });
    expect(result.anchors).toEqual([{ ...commitment(10, head.hash), matches: true }]);
    expect(result.warnings).toEqual([]);
  });

  it('verifies an unanchored chain but warns that truncation cannot be seen', () => {
    const { rows, head } = intact();
    const result = verify(rows);
    expect(result).toMatchObject({ ok: true, entries: 10, lastSeq: 10, head: head.hash, firstBad: null, problems: [] });
    expect(result.anchors).toEqual([]);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/truncation/);
  });

  it('verifies an empty chain against a size-0 anchor on the genesis hash', () => {
    const result = verify([], [commitment(0, '0'.repeat(64))]);
    expect(result).toMatchObject({ ok: true, entries: 0, lastSeq: 0, head: '0'.repeat(64) });
    expect(result.anchors[0]?.matches).toBe(true);
  });

  it('verifies matching checkpoints along the chain', () => {
    const { rows, head } = intact();
    const result = verify(rows, [
      checkpoint(2, at(rows, 2).hash),
      checkpoint(6, at(rows, 6).hash),
      commitment(10, head.hash),
    ]);
    expect(result.ok).toBe(true);
    expect(result.anchors.map((a) => a.matches)).toEqual([true, true, true]);
  });

  it('accepts purged payloads, counts them and warns, because their hashes still verify', () => {
    const { rows, head } = intact();
    const purged = rows.map((r) => (r.seq === 2 || r.seq === 3 ? { ...r, payload: null } : r));
    const result = verify(purged, [commitment(10, head.hash)]);
    expect(result).toMatchObject({ ok: true, purgedPayloads: 2, problems: [] });
    expect(result.warnings).toEqual([expect.stringMatching(/2 payloads were purged/)]);
  });
});

describe('ChainVerifier on an altered row in the middle', () => {
  it('reports a modified field once, at its row, without a cascade', () => {
    const { rows, head } = intact();
    const tampered = rows.map((r) => (r.seq === 4 ? { ...r, kind: 'tampered' } : r));
    const result = verify(tampered, [commitment(10, head.hash)]);
    expect(result.ok).toBe(false);
    expect(kinds(result)).toEqual([{ kind: 'modified', seq: 4 }]);
    expect(result.firstBad).toEqual(result.problems[0]);
    expect(result.firstBad?.message).toMatch(/entry 4/);
    // The stored head is still the anchored one.
    expect(result.anchors[0]?.matches).toBe(true);
  });

  it('reports a row whose format is unknown as modified', () => {
    const { rows } = intact();
    const result = verify(rows.map((r) => (r.seq === 7 ? { ...r, format: 'hv-audit-v0' } : r)));
    expect(kinds(result)).toEqual([{ kind: 'modified', seq: 7 }]);
    expect(result.firstBad?.message).toMatch(/unknown format "hv-audit-v0"/);
  });

  it('reports an altered payload text whose payload hash was left alone as payload_modified', () => {
    const { rows } = intact();
    const tampered = rows.map((r) => (r.seq === 5 ? { ...r, payload: canonicalJson({ seq: 5, forged: true }) } : r));
    const result = verify(tampered);
    expect(kinds(result)).toEqual([{ kind: 'payload_modified', seq: 5 }]);
  });

  it('reports a payload whose text is not the exact canonical text that was hashed', () => {
    const { rows } = intact();
    const row = at(rows, 5);
    // Same JSON value, different bytes.
    const pretty = JSON.stringify(JSON.parse(row.payload!), null, 2);
    const result = verify(rows.map((r) => (r === row ? { ...r, payload: pretty } : r)));
    expect(kinds(result)).toEqual([{ kind: 'payload_modified', seq: 5 }]);
  });

  it('reports a payload hash changed to match a forged payload as modified, since the entry binds the payload hash', () => {
    const { rows } = intact();
    const result = verify(rows.map((r) => (r.seq === 5 ? withPayload(r, { forged: true }) : r)));
    expect(kinds(result)).toEqual([{ kind: 'modified', seq: 5 }]);
  });

  it('reports one deleted row as missing, and nothing else', () => {
    const { rows, head } = intact();
    const result = verify(
      rows.filter((r) => r.seq !== 6),
      [commitment(10, head.hash)],
    );
    expect(kinds(result)).toEqual([{ kind: 'missing', seq: 6 }]);
    expect(result.firstBad?.message).toBe('entry 6 is missing');
    expect(result).toMatchObject({ entries: 9, lastSeq: 10, head: head.hash });
  });

  it('reports a deleted range as one missing problem naming the range', () => {
    const { rows } = intact();
    const result = verify(rows.filter((r) => r.seq < 6 || r.seq > 8));
    expect(kinds(result)).toEqual([{ kind: 'missing', seq: 6 }]);
    expect(result.firstBad?.message).toBe('entries 6–8 are missing (3 entries)');
  });

  it('reports a deleted first row as missing at 1', () => {
    const { rows } = intact();
    const result = verify(rows.slice(1));
    expect(kinds(result)).toEqual([{ kind: 'missing', seq: 1 }]);
  });

  it('reports two rows swapped under their seq numbers as modified, first at the earlier seq', () => {
    const { rows } = intact();
    const three = at(rows, 3);
    const seven = at(rows, 7);
    const swapped = rows.map((r) => (r.seq === 3 ? { ...seven, seq: 3 } : r.seq === 7 ? { ...three, seq: 7 } : r));
    const result = verify(swapped);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ kind: 'modified', seq: 3 });
    // Each swapped row fails its own hash, and the row after each no longer links to the stored hash before it.
    expect(kinds(result)).toEqual([
      { kind: 'modified', seq: 3 },
      { kind: 'relinked', seq: 4 },
      { kind: 'modified', seq: 7 },
      { kind: 'relinked', seq: 8 },
    ]);
  });

  it('reports an entry altered and correctly re-hashed by an attacker as relinked at the next entry', () => {
    const { rows, head } = intact();
    const forged = rehash(withPayload({ ...at(rows, 5), kind: 'forged' }, { forged: true }), at(rows, 4).hash);
    expect(forged.hash).not.toBe(at(rows, 5).hash);
    const result = verify(
      rows.map((r) => (r.seq === 5 ? forged : r)),
      [commitment(10, head.hash)],
    );
    expect(kinds(result)).toEqual([{ kind: 'relinked', seq: 6 }]);
    expect(result.firstBad?.message).toMatch(/entry 5 was altered and re-hashed/);
  });

  it('reports a forged entry inserted at seq 5, with the later entries renumbered, from seq 6 on', () => {
    const { rows, head } = intact();
    const inserted = appendEntry({ seq: 4, hash: at(rows, 4).hash }, input(5, { kind: 'forged', payload: { x: 1 } }));
    expect(inserted.chained.entry.seq).toBe(5);
    const shifted = [
      ...rows.filter((r) => r.seq <= 4),
      toRow(inserted.chained),
      ...rows.filter((r) => r.seq >= 5).map((r) => ({ ...r, seq: r.seq + 1 })),
    ];
    const result = verify(shifted, [commitment(10, head.hash)]);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ kind: 'modified', seq: 6 });
    // The seq is hashed, so every renumbered entry fails its own hash. The commitment sees the extra entry, and its
    // root no longer matches the row at 10; that mismatch is explained by the row problems, so it claims no position.
    expect(kinds(result)).toEqual([
      { kind: 'modified', seq: 6 },
      { kind: 'modified', seq: 7 },
      { kind: 'modified', seq: 8 },
      { kind: 'modified', seq: 9 },
      { kind: 'modified', seq: 10 },
      { kind: 'modified', seq: 11 },
      { kind: 'extra', seq: 11 },
      { kind: 'rewritten', seq: null },
    ]);
  });

  it('reports a row fed twice as extra at its seq, and nothing else', () => {
    const { rows, head } = intact();
    const doubled = [...rows.slice(0, 4), at(rows, 4), ...rows.slice(4)];
    const result = verify(doubled, [commitment(10, head.hash)]);
    expect(kinds(result)).toEqual([{ kind: 'extra', seq: 4 }]);
    expect(result.firstBad?.message).toBe('entry 4 appears twice');
    expect(result).toMatchObject({ entries: 11, lastSeq: 10, head: head.hash });
  });
});

describe('ChainVerifier against anchors', () => {
  it('reports dropped tail rows as truncated against a final commitment', () => {
    const { rows, head } = intact();
    const result = verify(rows.slice(0, 8), [commitment(10, head.hash)]);
    expect(kinds(result)).toEqual([{ kind: 'truncated', seq: 9 }]);
    expect(result.firstBad?.message).toBe('the chain ends at entry 8 but the commitment covers 10 entries');
    expect(result.anchors[0]?.matches).toBe(false);
  });

  it('cannot see dropped tail rows without an anchor', () => {
    const { rows } = intact();
    const result = verify(rows.slice(0, 8));
    expect(result).toMatchObject({ ok: true, lastSeq: 8, problems: [] });
    expect(result.warnings).toEqual([expect.stringMatching(/truncation/)]);
  });

  it('reports dropped tail rows as truncated against a non-final checkpoint too', () => {
    const { rows } = intact();
    const result = verify(rows.slice(0, 5), [checkpoint(6, at(rows, 6).hash)]);
    expect(kinds(result)).toEqual([{ kind: 'truncated', seq: 6 }]);
  });

  it('reports a properly hashed entry appended after the commitment as extra', () => {
    const { rows, head } = intact();
    const appended = appendEntry(head, input(11));
    const result = verify([...rows, toRow(appended.chained)], [commitment(10, head.hash)]);
    expect(kinds(result)).toEqual([{ kind: 'extra', seq: 11 }]);
    expect(result.anchors[0]?.matches).toBe(true);
    expect(result.head).toBe(appended.head.hash);
  });

  describe('a full rewrite from entry 3 on', () => {
    const original = intact();
    const rewritten = chainOf(inputs(10).map((e, i) => (i === 2 ? { ...e, payload: { forged: true } } : e)));

    it('recomputes every hash from entry 3 on', () => {
      expect(rewritten.rows.slice(0, 2)).toEqual(original.rows.slice(0, 2));
      for (let i = 2; i < 10; i++) expect(rewritten.rows[i]?.hash).not.toBe(original.rows[i]?.hash);
    });

    it('passes the chain check alone', () => {
      const result = verify(rewritten.rows);
      expect(result).toMatchObject({ ok: true, problems: [] });
    });

    it('is reported as rewritten against the original commitment', () => {
      const result = verify(rewritten.rows, [commitment(10, original.head.hash)]);
      expect(kinds(result)).toEqual([{ kind: 'rewritten', seq: 1 }]);
      expect(result.firstBad?.message).toMatch(/entries 1–10 were rewritten/);
      expect(result.anchors[0]?.matches).toBe(false);
    });

    it('is localised between the last matching and the first mismatching checkpoint', () => {
      const result = verify(rewritten.rows, [
        checkpoint(2, at(original.rows, 2).hash),
        checkpoint(6, at(original.rows, 6).hash),
        commitment(10, original.head.hash),
      ]);
      expect(kinds(result)).toEqual([{ kind: 'rewritten', seq: 3 }]);
      expect(result.firstBad?.message).toBe(
        'entries 3–6 were rewritten: the stored hash at entry 6 differs from the checkpoint at 6',
      );
      expect(result.anchors.map((a) => a.matches)).toEqual([true, false, false]);
    });
  });

  it('lists an anchor mismatch without a position when a row problem at or before the anchor explains it', () => {
    const { rows, head } = intact();
    const lastAltered = verify(
      rows.map((r) => (r.seq === 10 ? { ...r, hash: 'f'.repeat(64) } : r)),
      [commitment(10, head.hash)],
    );
    expect(kinds(lastAltered)).toEqual([
      { kind: 'modified', seq: 10 },
      { kind: 'rewritten', seq: null },
    ]);
    expect(lastAltered.firstBad).toMatchObject({ kind: 'modified', seq: 10 });

    const anchoredRowDeleted = verify(
      rows.filter((r) => r.seq !== 6),
      [checkpoint(6, at(rows, 6).hash), commitment(10, head.hash)],
    );
    expect(kinds(anchoredRowDeleted)).toEqual([
      { kind: 'missing', seq: 6 },
      { kind: 'rewritten', seq: null },
    ]);
  });

  it('reports an anchor with an invalid signature and does not trust it for truncation', () => {
    const { rows, head } = intact();
    const result = verify(rows.slice(0, 8), [commitment(10, head.hash, 'invalid')]);
    expect(kinds(result)).toEqual([{ kind: 'bad_signature', seq: null }]);
    expect(result.firstBad?.message).toMatch(/signature of the commitment does not verify/);
  });

  it('does not trust an anchor with an invalid signature for extra or rewritten either', () => {
    const { rows, head } = intact();
    const result = verify(rows, [commitment(9, head.hash, 'invalid')]);
    expect(kinds(result)).toEqual([{ kind: 'bad_signature', seq: null }]);
  });

  it('still uses an anchor whose signature was not checked, but warns that no signature was verified', () => {
    const { rows, head } = intact();
    const good = verify(rows, [commitment(10, head.hash, 'unchecked')]);
    expect(good.ok).toBe(true);
    expect(good.warnings).toEqual([expect.stringMatching(/no anchor signature was verified/)]);

    const truncated = verify(rows.slice(0, 8), [commitment(10, head.hash, 'unchecked')]);
    expect(kinds(truncated)).toEqual([{ kind: 'truncated', seq: 9 }]);
    expect(truncated.warnings).toEqual([expect.stringMatching(/no anchor signature was verified/)]);

    const unsigned = verify(rows, [commitment(10, head.hash, 'unsigned')]);
    expect(unsigned.warnings).toEqual([expect.stringMatching(/no anchor signature was verified/)]);
  });

  it('reports final anchors that disagree on the root', () => {
    const { rows, head } = intact();
    const result = verify(rows, [
      commitment(10, head.hash),
      { source: 'workflow result', final: true, size: 10, root: 'f'.repeat(64), signature: 'valid' },
    ]);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.kind)).toContain('anchor_disagreement');
    const disagreement = result.problems.find((p) => p.kind === 'anchor_disagreement');
    expect(disagreement?.seq).toBeNull();
    expect(disagreement?.message).toMatch(/commitment says 10 entries.*workflow result says 10 entries/);
    expect(result.anchors.map((a) => a.matches)).toEqual([true, false]);
  });

  it('reports final anchors that disagree on the size even when both match the stored chain', () => {
    const { rows, head } = intact();
    const result = verify(rows, [
      commitment(10, head.hash),
      { source: 'workflow result', final: true, size: 9, root: at(rows, 9).hash, signature: 'valid' },
    ]);
    expect(kinds(result)).toEqual([{ kind: 'anchor_disagreement', seq: null }]);
  });

  it('does not report agreeing final anchors from two sources', () => {
    const { rows, head } = intact();
    const result = verify(rows, [
      commitment(10, head.hash),
      { source: 'workflow result', final: true, size: 10, root: head.hash, signature: 'valid' },
    ]);
    expect(result).toMatchObject({ ok: true, problems: [], warnings: [] });
  });
});

describe('ChainVerifier reporting', () => {
  it(`lists at most ${MAX_REPORTED_PROBLEMS} problems, in seq order, and counts the rest in a warning`, () => {
    const n = MAX_REPORTED_PROBLEMS + 7;
    const { rows } = chainOf(inputs(n));
    const result = verify(rows.map((r) => ({ ...r, kind: 'tampered' })));
    expect(result.ok).toBe(false);
    expect(result.problems).toHaveLength(MAX_REPORTED_PROBLEMS);
    expect(result.problems.every((p) => p.kind === 'modified')).toBe(true);
    expect(result.problems.map((p) => p.seq)).toEqual(Array.from({ length: MAX_REPORTED_PROBLEMS }, (_, i) => i + 1));
    expect(result.warnings).toContain('7 further problems were not listed');
  });

  it('orders problems by seq with seq-less problems last', () => {
    const { rows, head } = intact();
    const tampered = rows.filter((r) => r.seq !== 8).map((r) => (r.seq === 3 ? { ...r, agentDid: 'x' } : r));
    const result = verify(tampered, [commitment(10, head.hash), commitment(11, 'e'.repeat(64), 'invalid')]);
    expect(kinds(result)).toEqual([
      { kind: 'modified', seq: 3 },
      { kind: 'missing', seq: 8 },
      { kind: 'bad_signature', seq: null },
    ]);
    expect(result.firstBad).toEqual(result.problems[0]);
  });
});

describe('ChainVerifier across formats', () => {
  const v1 = (seq: number, runId = 'run-a'): NewEntry => ({ ...input(seq, { runId }), format: AUDIT_FORMAT_V1 });

  it('verifies v1 entries followed by v2 entries, each in its own format', () => {
    const old = chainOf([1, 2, 3, 4].map((seq) => v1(seq)));
    const { rows, head } = chainOf(
      [5, 6, 7].map((seq) => input(seq, { runId: 'run-b' })),
      old.head,
    );
    const all = [...old.rows, ...rows];
    const formats = ['v1', 'v1', 'v1', 'v1', 'v2', 'v2', 'v2'].map((v) => `hv-audit-${v}`);
    expect(all.map((r) => r.format)).toEqual(formats);
    expect(verify(all, [commitment(7, head.hash)])).toMatchObject({ ok: true, entries: 7, problems: [] });
  });

  it('binds the run id of a v1 row, and records the run id of a v2 row without hashing it', () => {
    const old = chainOf([1, 2, 3].map((seq) => v1(seq)));
    const { rows } = chainOf(
      [4, 5].map((seq) => input(seq)),
      old.head,
    );
    const all = [...old.rows, ...rows];
    const changed = (seq: number) => all.map((r) => (r.seq === seq ? { ...r, runId: 'run-x' } : r));
    expect(kinds(verify(changed(2)))).toEqual([{ kind: 'modified', seq: 2 }]);
    expect(verify(changed(4)).ok).toBe(true);
  });

  it('reports a row whose format was switched as modified', () => {
    const { rows } = chainOf([1, 2, 3].map((seq) => v1(seq)));
    const switched = rows.map((r) => (r.seq === 2 ? { ...r, format: 'hv-audit-v2' } : r));
    expect(kinds(verify(switched))).toEqual([{ kind: 'modified', seq: 2 }]);
  });
});

describe('ChainVerifier on a chain rebased after a reset', () => {
  /**
   * Run A stored entries 1–6; a reset gave run B the history up to entry 4, and B recorded 5–7 of its own. B rebases
   * them after A's head: marker at 7, B's entries at 8–10.
   */
  function resetChain() {
    const prefix = chainOf(inputs(4));
    const abandoned = chainOf(
      [5, 6].map((seq) => input(seq, { kind: 'abandoned' })),
      prefix.head,
    );
    const pending: ChainedEntry[] = [];
    let head = prefix.head;
    for (const seq of [5, 6, 7]) {
      const out = appendEntry(head, input(seq, { runId: 'run-b' }));
      head = out.head;
      pending.push(out.chained);
    }
    const rebased = rebasePending(
      pending,
      { fromSeq: 5, head: abandoned.head, runIds: ['run-a'] },
      { sessionId: SESSION, recordedAtMs: 1_735_689_700_000, workflowId: `session:${SESSION}`, runId: 'run-b' },
    );
    return { rows: [...prefix.rows, ...abandoned.rows, ...rebased.links.map(toRow)], rebased };
  }

  it('verifies from genesis to the new head, abandoned entries included, and says what was abandoned', () => {
    const { rows, rebased } = resetChain();
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const result = verify(rows, [commitment(10, rebased.head.hash)]);
    expect(result).toMatchObject({ ok: true, entries: 10, head: rebased.head.hash, problems: [] });
    expect(result.warnings).toEqual([
      'entry 7 (chain_rebased): entries 5–6, recorded by run run-a, were abandoned by a reset of the workflow; ' +
        "the reset run's entries continue after them",
    ]);
  });

  it('still says a rebase happened once the marker payload is purged', () => {
    const { rows } = resetChain();
    const purged = rows.map((r) => (r.seq === 7 ? { ...r, payload: null } : r));
    const result = verify(purged);
    expect(result.ok).toBe(true);
    expect(result.warnings).toContain('entry 7 records a rebase after a workflow reset (its payload is not readable)');
  });
});
