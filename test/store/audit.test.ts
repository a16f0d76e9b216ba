import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { insertAuditBatch, readCommitment, streamAuditEntries } from '../../store/audit.js';
import { checkpointFile, readCheckpoints } from '../../store/checkpoint-sink.js';
import { verifyAuditChain } from '../../client/audit.js';
import { appendEntry, genesisHead, type ChainedEntry, type ChainHead } from '../../domain/audit-chain.js';
import { ErrorType } from '../../domain/errors.js';
import type { SessionCommitment } from '../../domain/session-types.js';
import { tamper, testActivities, testCheckpointDir, testPool, verifyOptions } from '../helpers/audit.js';

const BASE_MS = Date.now();

/**
 * A chain of `n` entries for a fresh session, as the session workflow would hand it over. Another `variant` is
 * another writer's content at the same positions.
 */
function chainOf(
  n: number,
  sessionId = `store-${randomUUID()}`,
  runId = 'run-1',
  { variant = 0, workflowId = `session:${sessionId}` } = {},
) {
  let head = genesisHead();
  const links: ChainedEntry[] = [];
  for (let i = 0; i < n; i++) {
    const out = appendEntry(head, {
      sessionId,
      kind: i % 2 ? 'decision' : 'join',
      agentDid: `did:mesh:a${i}`,
      payload: { i, text: 'null byte \u0000 and ünïcode', nested: { b: [1, 2.5], a: null } },
      recordedAtMs: BASE_MS + i + variant,
      workflowId,
      runId,
    });
    head = out.head;
    links.push(out.chained);
  }
  return { sessionId, links, head };
}

const acts = testActivities();

async function storedSeqs(sessionId: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const row of streamAuditEntries(testPool(), sessionId, { pageSize: 7 })) seqs.push(row.seq);
  return seqs;
}

async function failureType(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).nonRetryable).toBe(true);
  return (err as ApplicationFailure).type ?? undefined;
}

describe('appendAuditEntries on the real database', () => {
  it('stores a batch exactly once however often it is retried, overlapping batches included', async () => {
    const { sessionId, links } = chainOf(30);
    expect(await acts.appendAuditEntries({ sessionId, entries: links.slice(0, 20), checkpoint: false })).toEqual({
      inserted: 20,
      duplicates: 0,
    });
    // The retry of a batch whose acknowledgement was lost, then a batch overlapping it.
    expect(await acts.appendAuditEntries({ sessionId, entries: links.slice(0, 20), checkpoint: false })).toEqual({
      inserted: 0,
      duplicates: 20,
    });
    expect(await acts.appendAuditEntries({ sessionId, entries: links.slice(15), checkpoint: false })).toEqual({
      inserted: 10,
      duplicates: 5,
    });
    expect(await storedSeqs(sessionId)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const report = await verifyAuditChain(sessionId, { pool: testPool() });
    expect(report).toMatchObject({ ok: true, entries: 30, head: links[29]!.hash });
  });

  it('keeps the exact hashed payload text, including characters jsonb refuses', async () => {
    const { sessionId, links } = chainOf(1);
    await acts.appendAuditEntries({ sessionId, entries: links, checkpoint: false });
    const { rows } = await testPool().query<{ payload: string }>(
      'SELECT payload FROM audit_entries WHERE session_id = $1',
      [sessionId],
    );
    expect(rows[0]!.payload).toBe('{"i":0,"nested":{"a":null,"b":[1,2.5]},"text":"null byte \\u0000 and ünïcode"}');
  });

  it('refuses a different entry at a stored position with ChainBroken and writes nothing of that batch', async () => {
    const { sessionId, links } = chainOf(5);
    await acts.appendAuditEntries({ sessionId, entries: links.slice(0, 3), checkpoint: false });
    // Another writer's chain for the same session id: same positions, different content.
    const rival = chainOf(5, sessionId, 'rival-run', { variant: 1 }).links;
    expect(await failureType(acts.appendAuditEntries({ sessionId, entries: rival, checkpoint: false }))).toBe(
      ErrorType.ChainBroken,
    );
    // Entries 4 and 5 of the rival batch were rolled back with it.
    expect(await storedSeqs(sessionId)).toEqual([1, 2, 3]);
  });

  it('refuses a batch that does not link to the stored head, or leaves a gap, and writes nothing of it', async () => {
    const { sessionId, links } = chainOf(3);
    await acts.appendAuditEntries({ sessionId, entries: links.slice(0, 2), checkpoint: false });
    // Entries 3–5 of a writer whose entry 2 differs from the stored one: linked to themselves, not to the store.
    const branch = chainOf(5, sessionId, 'run-1', { variant: 1 }).links.slice(2);
    expect(await insertAuditBatch(testPool(), sessionId, branch)).toEqual({
      conflict: {
        seq: 2,
        storedHash: links[1]!.hash,
        hash: branch[0]!.prevHash,
        head: { seq: 2, hash: links[1]!.hash },
        writers: [{ workflowId: `session:${sessionId}`, runId: 'run-1' }],
      },
    });
    expect(await failureType(acts.appendAuditEntries({ sessionId, entries: branch, checkpoint: false }))).toBe(
      ErrorType.ChainBroken,
    );
    // A batch starting after a position the store does not hold.
    const gap = chainOf(5, sessionId).links.slice(3);
    expect(await insertAuditBatch(testPool(), sessionId, gap)).toMatchObject({ conflict: { seq: 3, storedHash: '' } });
    expect(await storedSeqs(sessionId)).toEqual([1, 2]);
    // The genuine continuation still lands.
    expect(await insertAuditBatch(testPool(), sessionId, links.slice(2))).toEqual({ inserted: 1, duplicates: 0 });
  });

  it('keeps an entry another run recorded identically as a duplicate: a v2 hash does not depend on the run', async () => {
    const { sessionId, links } = chainOf(3);
    await acts.appendAuditEntries({ sessionId, entries: links, checkpoint: false });
    const replayed = chainOf(4, sessionId, 'run-after-reset').links;
    expect(await acts.appendAuditEntries({ sessionId, entries: replayed, checkpoint: false })).toEqual({
      inserted: 1,
      duplicates: 3,
    });
    const runIds = [];
    for await (const row of streamAuditEntries(testPool(), sessionId)) runIds.push(row.runId);
    expect(runIds).toEqual(['run-1', 'run-1', 'run-1', 'run-after-reset']);
  });

  it('describes the stored chain from the first differing position on, and writes nothing', async () => {
    const { sessionId, links } = chainOf(6);
    await insertAuditBatch(testPool(), sessionId, links.slice(0, 3));
    await insertAuditBatch(testPool(), sessionId, chainOf(6, sessionId, 'run-2').links.slice(3));
    // Run 3 shares entries 1–3, then records entries 4–8 of its own.
    let head: ChainHead = { seq: 3, hash: links[2]!.hash };
    const own = Array.from({ length: 5 }, (_, i) => {
      const out = appendEntry(head, {
        sessionId,
        kind: 'decision',
        agentDid: null,
        payload: { own: i },
        recordedAtMs: BASE_MS + 100 + i,
        workflowId: `session:${sessionId}`,
        runId: 'run-3',
      });
      head = out.head;
      return out.chained;
    });
    const outcome = await insertAuditBatch(testPool(), sessionId, [...links.slice(1, 3), ...own]);
    expect(outcome).toEqual({
      conflict: {
        seq: 4,
        storedHash: links[3]!.hash,
        hash: own[0]!.hash,
        head: { seq: 6, hash: links[5]!.hash },
        writers: [{ workflowId: `session:${sessionId}`, runId: 'run-2' }],
      },
    });
    expect(await storedSeqs(sessionId)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keeps every conflict it cannot show to be a reset of the same session ChainBroken', async () => {
    const storedRun = randomUUID();
    const { sessionId, links } = chainOf(4, undefined, storedRun);
    await acts.appendAuditEntries({ sessionId, entries: links, checkpoint: false });
    const attempt = (entries: ChainedEntry[], firstRunId: string | undefined = storedRun) =>
      failureType(
        acts.appendAuditEntries({ sessionId, entries, checkpoint: false, ...(firstRunId ? { firstRunId } : {}) }),
      );
    // The same run writing something else at a stored position.
    expect(await attempt(chainOf(4, sessionId, storedRun, { variant: 1 }).links)).toBe(ErrorType.ChainBroken);
    // Another workflow id.
    const other = chainOf(4, sessionId, randomUUID(), { variant: 1, workflowId: 'session:elsewhere' }).links;
    expect(await attempt(other)).toBe(ErrorType.ChainBroken);
    // Another run: from a session before v2 (no first run id), or one Temporal cannot place in this execution.
    const rival = chainOf(4, sessionId, randomUUID(), { variant: 1 }).links;
    expect(await attempt(rival, undefined)).toBe(ErrorType.ChainBroken);
    expect(await attempt(rival)).toBe(ErrorType.ChainBroken);
    expect(await storedSeqs(sessionId)).toEqual([1, 2, 3, 4]);
    // A stored run id that is no run id at all.
    const legacy = chainOf(2, undefined, 'not-a-run-id');
    await acts.appendAuditEntries({ sessionId: legacy.sessionId, entries: legacy.links, checkpoint: false });
    const rivalOfLegacy = chainOf(2, legacy.sessionId, randomUUID(), { variant: 1 }).links;
    const refused = acts.appendAuditEntries({
      sessionId: legacy.sessionId,
      entries: rivalOfLegacy,
      checkpoint: false,
      firstRunId: 'not-a-run-id',
    });
    expect(await failureType(refused)).toBe(ErrorType.ChainBroken);
  });

  it('refuses a batch whose links do not recompute, before touching the table', async () => {
    const { sessionId, links } = chainOf(3);
    const tampered = links.map((link, i) => (i === 1 ? { ...link, payload: { forged: true } } : link));
    expect(await failureType(acts.appendAuditEntries({ sessionId, entries: tampered, checkpoint: false }))).toBe(
      ErrorType.ChainBroken,
    );
    expect(await storedSeqs(sessionId)).toEqual([]);
  });

  it('writes a signed checkpoint of the new head to the sink when asked', async () => {
    const { sessionId, links } = chainOf(4);
    await acts.appendAuditEntries({ sessionId, entries: links.slice(0, 2), checkpoint: true });
    await acts.appendAuditEntries({ sessionId, entries: links.slice(2), checkpoint: true });
    const { checkpoints, malformed } = await readCheckpoints(testCheckpointDir, sessionId);
    expect(malformed).toBe(0);
    expect(checkpoints.map((c) => [c.size, c.root, c.final])).toEqual([
      [2, links[1]!.hash, false],
      [4, links[3]!.hash, false],
    ]);
    expect(checkpoints.every((c) => c.signature && c.keyId)).toBe(true);
    expect(await readFile(checkpointFile(testCheckpointDir, sessionId), 'utf8')).toMatch(/"format":"hv-checkpoint-v1"/);
  });
});

describe('commitSessionAudit', () => {
  const commitmentFor = (sessionId: string, head: ChainHead): SessionCommitment => ({
    sessionId,
    state: 'archived',
    reason: 'requested',
    root: head.hash,
    entryCount: head.seq,
    participants: ['did:mesh:b', 'did:mesh:a'],
    killSwitchTriggered: false,
    terminatedAtMs: 1_700_000_001_000,
  });

  it('stores the commitment once, signed, and the verifier accepts the signature', async () => {
    const { sessionId, links, head } = chainOf(3);
    await acts.appendAuditEntries({ sessionId, entries: links, checkpoint: false });
    const commitment = commitmentFor(sessionId, head);
    const input = { commitment, workflowId: `session:${sessionId}`, runId: 'run-1', checkpoint: true };
    const signed = await acts.commitSessionAudit(input);
    expect(signed.keyId).toMatch(/^[0-9a-f]{32}$/);
    // Retried: same signature (Ed25519 is deterministic), no second row.
    expect(await acts.commitSessionAudit(input)).toEqual(signed);
    expect(await readCommitment(testPool(), sessionId)).toMatchObject({ root: head.hash, entryCount: 3, ...signed });
    const report = await verifyAuditChain(sessionId, verifyOptions());
    expect(report.ok).toBe(true);
    expect(report.anchors.map((a) => [a.source, a.signature, a.matches])).toEqual([
      ['commitment', 'valid', true],
      ['final checkpoint at 3', 'valid', true],
    ]);
  });

  it('refuses a second, different commitment for the same session', async () => {
    const { sessionId, links, head } = chainOf(2);
    await acts.appendAuditEntries({ sessionId, entries: links, checkpoint: false });
    await acts.commitSessionAudit({
      commitment: commitmentFor(sessionId, head),
      workflowId: 'w',
      runId: 'r',
      checkpoint: false,
    });
    const other = { ...commitmentFor(sessionId, head), root: 'f'.repeat(64) };
    expect(
      await failureType(acts.commitSessionAudit({ commitment: other, workflowId: 'w', runId: 'r', checkpoint: false })),
    ).toBe(ErrorType.ChainBroken);
  });
});

describe('retention', () => {
  it('purges payloads past the retention period and the chain still verifies', async () => {
    const { sessionId, links } = chainOf(6);
    await acts.appendAuditEntries({ sessionId, entries: links, checkpoint: false });
    // Backdate the first four entries' storage timestamp by 200 days (as if recorded then).
    await tamper((db) =>
      db.query(
        `UPDATE audit_entries SET recorded_at = now() - interval '200 days' WHERE session_id = $1 AND seq <= 4`,
        [sessionId],
      ),
    );
    const { purged } = await acts.purgeAuditPayloads({ retentionDays: 180, nowMs: Date.now() });
    expect(purged).toBeGreaterThanOrEqual(4);
    const { rows } = await testPool().query<{ seq: string; purged: boolean }>(
      `SELECT seq, payload IS NULL AS purged FROM audit_entries WHERE session_id = $1 ORDER BY seq`,
      [sessionId],
    );
    expect(rows.map((r) => r.purged)).toEqual([true, true, true, true, false, false]);
    const report = await verifyAuditChain(sessionId, { pool: testPool() });
    expect(report).toMatchObject({ ok: true, entries: 6, purgedPayloads: 4 });
  });

  it('refuses a non-positive retention period', async () => {
    expect(await failureType(acts.purgeAuditPayloads({ retentionDays: 0, nowMs: Date.now() }))).toBe(
      ErrorType.InvalidInput,
    );
  });
});
