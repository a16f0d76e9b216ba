import { describe, expect, it } from 'vitest';
import {
  AUDIT_FORMAT_V1,
  AUDIT_FORMAT_V2,
  appendEntry,
  batchProblem,
  genesisHead,
  payloadDigest,
  sha256Hex,
  type ChainHead,
  type ChainedEntry,
  type NewEntry,
} from '../../domain/audit-chain.js';
import { CHAIN_REBASED_KIND, rebasePending, relinkAfter, type StoredBranch } from '../../domain/audit-rebase.js';
import { deepFreeze } from '../helpers/domain.js';

const SESSION = 'rebase-test';

const input = (seq: number, overrides: Partial<NewEntry> = {}): NewEntry => ({
  sessionId: SESSION,
  kind: seq % 2 ? 'decision' : 'join',
  agentDid: `did:mesh:a${seq % 3}`,
  payload: { seq, note: 'ünïcode ✓' },
  recordedAtMs: 1_735_689_600_000 + seq,
  workflowId: `session:${SESSION}`,
  runId: 'run-b',
  ...overrides,
});

function chainOf(seqs: readonly number[], head: ChainHead, overrides: Partial<NewEntry> = {}) {
  const links: ChainedEntry[] = [];
  for (const seq of seqs) {
    const out = appendEntry(head, input(seq, overrides));
    head = out.head;
    links.push(out.chained);
  }
  return { links, head };
}

/** Entries 1–4 both runs share, 5–8 stored by the abandoned run A, and run B's own 5–7 waiting in its outbox. */
function resetScenario(bOverrides: Partial<NewEntry> = {}) {
  const shared = chainOf([1, 2, 3, 4], genesisHead(), { runId: 'run-a' });
  const abandoned = chainOf([5, 6, 7, 8], shared.head, { runId: 'run-a', kind: 'abandoned' });
  const pending = chainOf([5, 6, 7], shared.head, bOverrides).links;
  const branch: StoredBranch = { fromSeq: 5, head: abandoned.head, runIds: ['run-a'] };
  return { shared, abandoned, pending, branch };
}

const marker = {
  sessionId: SESSION,
  recordedAtMs: 1_735_689_700_000,
  workflowId: `session:${SESSION}`,
  runId: 'run-b',
};

describe('relinkAfter', () => {
  it('moves links behind a new head, keeping every entry field but the position, with one hash per link', () => {
    const { links } = chainOf([1, 2, 3], genesisHead());
    const onto = { seq: 40, hash: 'c'.repeat(64) };
    let hashes = 0;
    const counting = (text: string) => {
      hashes += 1;
      return sha256Hex(text);
    };
    const moved = relinkAfter(onto, links, counting);
    expect(hashes).toBe(3);
    expect(moved.links.map((l) => l.entry.seq)).toEqual([41, 42, 43]);
    moved.links.forEach((link, i) => {
      const { seq: _seq, ...fields } = link.entry;
      const { seq: _old, ...original } = links[i]!.entry;
      expect(fields).toEqual(original);
      expect(link.payload).toBe(links[i]!.payload);
      expect(link.runId).toBe(links[i]!.runId);
    });
    expect(moved.links[0]!.prevHash).toBe(onto.hash);
    expect(moved.head).toEqual({ seq: 43, hash: moved.links[2]!.hash });
    expect(batchProblem(SESSION, moved.links)).toBeNull();
  });

  it('keeps a v1 entry v1, its hashed run id included', () => {
    const { links } = chainOf([1, 2], genesisHead(), { format: AUDIT_FORMAT_V1, runId: 'run-old' });
    const moved = relinkAfter({ seq: 9, hash: 'd'.repeat(64) }, links);
    expect(moved.links.map((l) => l.entry)).toEqual([
      { ...links[0]!.entry, seq: 10 },
      { ...links[1]!.entry, seq: 11 },
    ]);
    expect(moved.links.every((l) => l.entry.format === AUDIT_FORMAT_V1 && l.entry.runId === 'run-old')).toBe(true);
    expect(batchProblem(SESSION, moved.links)).toBeNull();
  });
});

describe('rebasePending', () => {
  it('records a marker after the stored head, then the entries from the branch point on, re-linked', () => {
    const { pending, branch, abandoned } = resetScenario();
    const out = rebasePending(deepFreeze(pending), deepFreeze(branch), marker);
    expect(out.stored).toEqual([]);
    expect(out.links.map((l) => [l.entry.seq, l.entry.kind])).toEqual([
      [9, CHAIN_REBASED_KIND],
      [10, 'decision'],
      [11, 'join'],
      [12, 'decision'],
    ]);
    const [mark] = out.links;
    expect(mark!.prevHash).toBe(abandoned.head.hash);
    expect(mark!.entry).toMatchObject({ format: AUDIT_FORMAT_V2, agentDid: null, recordedAtMs: marker.recordedAtMs });
    expect(mark!.runId).toBe('run-b');
    expect(mark!.payload).toEqual({
      reason: 'workflow_reset',
      abandoned: { fromSeq: 5, toSeq: 8, runIds: ['run-a'] },
      storedHead: { seq: 8, hash: abandoned.head.hash },
      relinked: { fromSeq: 5, count: 3 },
    });
    expect(mark!.entry.payloadHash).toBe(payloadDigest(mark!.payload));
    expect(out.head).toEqual({ seq: 12, hash: out.links[3]!.hash });
    // The stored chain followed by the new tail is one valid chain.
    expect(batchProblem(SESSION, [...abandoned.links, ...out.links])).toBeNull();
  });

  it('maps each old position to its new one and leaves earlier positions alone', () => {
    const { pending, branch } = resetScenario();
    const out = rebasePending(pending, branch, marker);
    expect([3, 4, 5, 6, 7].map(out.seqOf)).toEqual([3, 4, 10, 11, 12]);
    for (const link of pending) expect(out.links.find((l) => l.entry.seq === out.seqOf(link.entry.seq))).toBeDefined();
  });

  it('keeps out the pending entries before the branch point: the store holds them already', () => {
    const shared = chainOf([1, 2, 3, 4], genesisHead(), { runId: 'run-a' });
    // Run B's entries 3–4 replayed identically (v2), then its own 5–6; run A had stored 1–7.
    const stored = chainOf([5, 6, 7], shared.head, { runId: 'run-a', kind: 'abandoned' });
    const mine = chainOf([5, 6], shared.head);
    const pending = [...shared.links.slice(2), ...mine.links];
    const out = rebasePending(pending, { fromSeq: 5, head: stored.head, runIds: ['run-a'] }, marker);
    expect(out.stored).toEqual(shared.links.slice(2));
    expect(out.links.map((l) => l.entry.seq)).toEqual([8, 9, 10]);
    expect(out.links[0]!.payload).toMatchObject({ relinked: { fromSeq: 5, count: 2 } });
  });

  it('writes the marker in the run’s format and re-links a v1 tail as v1', () => {
    const { pending, branch } = resetScenario({ format: AUDIT_FORMAT_V1 });
    const out = rebasePending(pending, branch, { ...marker, format: AUDIT_FORMAT_V1 });
    expect(out.links.map((l) => l.entry.format)).toEqual(Array(4).fill(AUDIT_FORMAT_V1));
    expect(batchProblem(SESSION, out.links)).toBeNull();
  });

  it('records only the marker when nothing waits past the branch point', () => {
    const { branch } = resetScenario();
    const out = rebasePending([], branch, marker);
    expect(out.links).toHaveLength(1);
    expect(out.head).toEqual({ seq: 9, hash: out.links[0]!.hash });
  });
});
