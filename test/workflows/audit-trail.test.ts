import type { ActivityInboundCallsInterceptor, ActivityExecuteInput, Next } from '@temporalio/worker';
import type { Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamAuditEntries } from '../../store/audit.js';
import type { SessionHandle } from '../../client/hypervisor-client.js';
import { entryHash, hashedEntry, payloadDigest, type Json } from '../../domain/audit-chain.js';
import { ErrorType } from '../../domain/errors.js';
import type { SessionCommitment } from '../../domain/session-types.js';
import { SESSION_WORKFLOW_TYPE, sessionWorkflowId } from '../../workflows/messages.js';
import { tamper, testPool, verifyOptions } from '../helpers/audit.js';
import { actions, allActions, did, eventually, expectHvError, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

async function storedRows(sessionId: string) {
  const rows = [];
  for await (const row of streamAuditEntries(testPool(), sessionId)) rows.push(row);
  return rows;
}

/** A session that goes through joins, decisions, state, locks, elevation, a kill and termination. */
async function busySession(
  taskQueue: string,
  config: Record<string, unknown> = {},
): Promise<{ session: SessionHandle; commitment: SessionCommitment }> {
  const { session, creatorDid } = await newSession(ctx, taskQueue, config);
  const [a, b] = [did('a'), did('b')];
  await session.join({ agentDid: a, sigmaRaw: 0.9, actions: allActions });
  await session.join({ agentDid: b, sigmaRaw: 0.9, actions: allActions });
  await session.activate();
  await session.authorize({ agentDid: a, actionId: actions.edit.actionId });
  await session.authorize({ agentDid: b, actionId: actions.admin.actionId });
  // Entries are flushed in batches; let the first ones land so the chain has a checkpoint in its middle.
  await eventually(
    () => session.view(),
    (v) => v.audit.pending === 0,
  );
  await session.write({ agentDid: a, path: '/plan.md', content: 'step 1' });
  const lock = await session.acquireLock({ agentDid: a, path: '/plan.md', intent: 'write' });
  await session.releaseLock({ agentDid: a, lockId: lock.lockId });
  await session.elevate({ agentDid: b, targetRing: 1, reason: 'deploy', approvedBy: creatorDid, ttlSeconds: 60 });
  await session.kill({ agentDid: b, reason: 'manual', authorizedBy: creatorDid });
  const commitment = await session.terminate({ reason: 'done' });
  return { session, commitment };
}

describe('audit trail end to end', () => {
  it('persists every governance event with who, what, when and where, and commits to it signed', async () => {
    const taskQueue = uniqueTaskQueue('audit');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, commitment } = await busySession(taskQueue, { enableBlockchainCommitment: true });
      const rows = await storedRows(session.sessionId);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
      expect(commitment).toMatchObject({ root: rows.at(-1)!.hash, keyId: expect.any(String) as unknown });
      expect(commitment.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
      expect(commitment.audit).toEqual({ persistedSeq: commitment.entryCount, fault: null });
      const kinds = new Set(rows.map((r) => r.kind));
      for (const kind of [
        'session_created',
        'join',
        'session_activated',
        'decision',
        'vfs_write',
        'lock_granted',
        'lock_released',
        'elevation_granted',
        'elevation_revoked',
        'kill',
        'session_terminating',
        'session_archived',
      ])
        expect(kinds, kind).toContain(kind);
      for (const row of rows) {
        expect(row.workflowId).toBe(sessionWorkflowId(session.sessionId));
        expect(row.runId).toMatch(/^[0-9a-f-]{36}$/);
        expect(row.recordedAtMs).toBeGreaterThan(0);
      }
      const write = rows.find((r) => r.kind === 'vfs_write')!;
      expect(JSON.parse(write.payload!)).toMatchObject({
        path: '/plan.md',
        contentHash: expect.any(String) as unknown,
      });

      const report = await session.verifyAudit(verifyOptions());
      expect(report.ok).toBe(true);
      const sources = report.anchors.map((a) => [a.source, a.signature, a.matches]);
      expect(sources).toContainEqual(['commitment', 'valid', true]);
      expect(sources).toContainEqual(['workflow result', 'valid', true]);
      expect(sources).toContainEqual([`final checkpoint at ${commitment.entryCount}`, 'valid', true]);
      expect(report.anchors.filter((a) => !a.final).length).toBeGreaterThan(0);
    });
  });

  it('loses and duplicates nothing when activity acknowledgements are lost and every batch is retried', async () => {
    const taskQueue = uniqueTaskQueue('audit-retry');
    const attempts: Record<string, number> = {};
    // The real activity runs and commits, then its result is lost: Temporal retries an already-applied batch.
    class LoseFirstAck implements ActivityInboundCallsInterceptor {
      constructor(private readonly c: Context) {}
      async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
        const out = await next(input);
        const { activityType, attempt } = this.c.info;
        attempts[activityType] = Math.max(attempts[activityType] ?? 0, attempt);
        if (attempt === 1) throw new Error(`acknowledgement of ${activityType} lost`);
        return out;
      }
    }
    await withWorker(
      ctx,
      { taskQueue, interceptors: { activity: [(c) => ({ inbound: new LoseFirstAck(c) })] } },
      async () => {
        const { session, commitment } = await busySession(taskQueue);
        expect(attempts).toMatchObject({ appendAuditEntries: 2, commitSessionAudit: 2 });
        const rows = await storedRows(session.sessionId);
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
        expect((await session.verifyAudit(verifyOptions())).ok).toBe(true);
      },
    );
  });

  it('keeps one gapless chain across continue-as-new runs', async () => {
    const taskQueue = uniqueTaskQueue('audit-can');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { breachPolicy: { baselineRate: 10_000 } });
      const a = did('a');
      await session.join({ agentDid: a, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      const firstRun = (await session.view()).runId;
      for (let i = 0; i < 400 && (await session.view()).runId === firstRun; i++)
        await session.authorize({ agentDid: a, actionId: actions.edit.actionId });
      await eventually(
        () => session.view(),
        (v) => v.runId !== firstRun,
      );
      await session.authorize({ agentDid: a, actionId: actions.read.actionId });
      const commitment = await session.terminate();
      const rows = await storedRows(session.sessionId);
      expect(new Set(rows.map((r) => r.runId)).size).toBeGreaterThanOrEqual(2);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
      expect((await session.verifyAudit(verifyOptions())).ok).toBe(true);
    });
  });

  it('refuses a reused session id and freezes a run whose chain conflicts with the store', async () => {
    const taskQueue = uniqueTaskQueue('audit-fault');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, hv, creatorDid } = await newSession(ctx, taskQueue);
      const first = await session.terminate();
      await expectHvError(hv.createSession({ sessionId: session.sessionId, creatorDid }), ErrorType.SessionExists);

      // Started around the client's guard: the new run's entry 1 conflicts with the stored one.
      await ctx.client.workflow.start(SESSION_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: sessionWorkflowId(session.sessionId),
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        args: [{ sessionId: session.sessionId, creatorDid, config: {} }],
      });
      const frozen = await eventually(
        () => session.view(),
        (v) => v.audit.fault !== null,
      );
      expect(frozen.audit.fault).toMatch(/different entry 1/);
      await expectHvError(session.join({ agentDid: did('x'), sigmaRaw: 0.8 }), ErrorType.AuditUnavailable);
      const second = await session.terminate();
      expect(second.audit?.fault).toMatch(/different entry 1/);
      // The stored chain is still the first run's, and it verifies.
      const report = await session.verifyAudit(verifyOptions());
      expect(report.anchors.find((a) => a.source === 'commitment')).toMatchObject({ root: first.root, matches: true });
      // The rows themselves are intact; only the second run's (unsigned, uncommitted) result disagrees with them.
      const rowProblems = ['modified', 'payload_modified', 'missing', 'relinked', 'truncated', 'extra'];
      expect(
        report.problems.filter((p) => rowProblems.includes(p.kind)),
        JSON.stringify({ first, second, report, rows: await storedRows(session.sessionId) }),
      ).toEqual([]);
    });
  });
});

describe('tamper detection on the real database', () => {
  const taskQueue = uniqueTaskQueue('audit-tamper');

  /** A finished session whose chain is then altered the way an attacker with database rights could. */
  async function tampered(
    mutate: (sessionId: string, n: number) => Promise<void>,
    config: Record<string, unknown> = {},
  ) {
    return withWorker(ctx, { taskQueue }, async () => {
      const { session, commitment } = await busySession(taskQueue, config);
      expect(commitment.entryCount).toBeGreaterThanOrEqual(12);
      await mutate(session.sessionId, commitment.entryCount);
      return { report: await session.verifyAudit(verifyOptions()), n: commitment.entryCount };
    });
  }

  const sql = (text: string, ...params: unknown[]) => tamper((db) => db.query(text, params));

  it('names a modified row', async () => {
    const { report } = await tampered((id) =>
      sql(`UPDATE audit_entries SET agent_did = 'did:mesh:someone-else' WHERE session_id = $1 AND seq = 5`, id),
    );
    expect(report.ok).toBe(false);
    expect(report.firstBad).toMatchObject({ kind: 'modified', seq: 5 });
    expect(report.problems).toHaveLength(1);
  });

  it('names a row whose payload was edited', async () => {
    const { report } = await tampered((id) =>
      sql(`UPDATE audit_entries SET payload = '{"allowed":true}' WHERE session_id = $1 AND seq = 6`, id),
    );
    expect(report.firstBad).toMatchObject({ kind: 'payload_modified', seq: 6 });
  });

  it('names a deleted row', async () => {
    const { report } = await tampered((id) => sql(`DELETE FROM audit_entries WHERE session_id = $1 AND seq = 4`, id));
    expect(report.firstBad).toMatchObject({ kind: 'missing', seq: 4 });
  });

  it('names the first of two swapped rows', async () => {
    const { report } = await tampered((id) =>
      sql(
        `UPDATE audit_entries a SET kind = b.kind, agent_did = b.agent_did, payload_hash = b.payload_hash,
                payload = b.payload, recorded_at_ms = b.recorded_at_ms, prev_hash = b.prev_hash, hash = b.hash
           FROM audit_entries b
          WHERE a.session_id = $1 AND b.session_id = $1 AND ((a.seq = 3 AND b.seq = 7) OR (a.seq = 7 AND b.seq = 3))`,
        id,
      ),
    );
    expect(report.firstBad).toMatchObject({ kind: 'modified', seq: 3 });
  });

  it('catches a forged row inserted in the middle at the first row it displaced', async () => {
    const { report, n } = await tampered(async (id) => {
      const [prev] = (await storedRows(id)).filter((r) => r.seq === 4);
      // Forged in the format of the rows around it.
      const forged = hashedEntry(id, {
        format: prev!.format,
        seq: 5,
        kind: 'decision',
        agentDid: 'did:mesh:forger',
        payloadHash: payloadDigest({ allowed: true }),
        recordedAtMs: prev!.recordedAtMs + 1,
        workflowId: prev!.workflowId,
        runId: prev!.runId,
      })!;
      await tamper(async (db) => {
        await db.query(`UPDATE audit_entries SET seq = seq + 1000 WHERE session_id = $1 AND seq >= 5`, [id]);
        await db.query(`UPDATE audit_entries SET seq = seq - 999 WHERE session_id = $1 AND seq > 1000`, [id]);
        await db.query(
          `INSERT INTO audit_entries (session_id, seq, format, kind, agent_did, payload_hash, payload, recorded_at_ms,
                                      recorded_at, workflow_id, run_id, prev_hash, hash)
           VALUES ($1, 5, $8, 'decision', 'did:mesh:forger', $2, '{"allowed":true}', $3, now(), $4, $5, $6, $7)`,
          [
            id,
            forged.payloadHash,
            forged.recordedAtMs,
            forged.workflowId,
            prev!.runId,
            prev!.hash,
            entryHash(prev!.hash, forged),
            forged.format,
          ],
        );
      });
    });
    // The forged row itself links and hashes correctly; the row it pushed down is the first that cannot.
    expect(report.firstBad).toMatchObject({ kind: 'modified', seq: 6 });
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'extra', seq: n + 1 }));
  });

  it('detects truncation of the tail against the commitment', async () => {
    const { report, n } = await tampered((id, count) =>
      sql(`DELETE FROM audit_entries WHERE session_id = $1 AND seq > $2`, id, count - 3),
    );
    expect(report.firstBad).toMatchObject({ kind: 'truncated', seq: n - 2 });
  });

  it('detects a fully recomputed rewrite, even with the commitment row rewritten too', async () => {
    const rewrite = async (id: string, fromSeq: number, alsoCommitment: boolean) => {
      const rows = await storedRows(id);
      let prevHash = rows[fromSeq - 2]!.hash;
      await tamper(async (db) => {
        for (const row of rows.slice(fromSeq - 1)) {
          const payload = row.seq === fromSeq ? '{"allowed":true,"rewritten":true}' : row.payload!;
          // Recomputed in each row's own format, as an attacker who read the verifier would.
          const entry = hashedEntry(id, { ...row, payloadHash: payloadDigest(JSON.parse(payload) as Json) })!;
          const hash = entryHash(prevHash, entry);
          await db.query(
            `UPDATE audit_entries SET payload = $3, payload_hash = $4, prev_hash = $5, hash = $6
              WHERE session_id = $1 AND seq = $2`,
            [id, row.seq, payload, entry.payloadHash, prevHash, hash],
          );
          prevHash = hash;
        }
        if (alsoCommitment)
          await db.query(`UPDATE session_commitments SET root = $2 WHERE session_id = $1`, [id, prevHash]);
      });
    };
    const plain = await tampered((id) => rewrite(id, 3, false));
    expect(plain.report.ok).toBe(false);
    expect(plain.report.firstBad).toMatchObject({ kind: 'rewritten', seq: 1 });

    const withCommitment = await tampered((id) => rewrite(id, 3, true));
    const kinds = withCommitment.report.problems.map((p) => p.kind);
    expect(kinds).toContain('bad_signature');
    // The workflow result in Temporal is out of the attacker's reach and still disagrees.
    expect(withCommitment.report.anchors.find((a) => a.source === 'workflow result')?.matches).toBe(false);
    expect(kinds).toContain('rewritten');

    // With external checkpoints the rewrite is narrowed to the entries after the last matching checkpoint.
    const checkpointed = await tampered((id) => rewrite(id, 9, true), { enableBlockchainCommitment: true });
    const rewritten = checkpointed.report.problems.find((p) => p.kind === 'rewritten')!;
    const lastGood = Math.max(...checkpointed.report.anchors.filter((a) => a.matches && a.size < 9).map((a) => a.size));
    expect(rewritten.seq).toBe(lastGood + 1);
    expect(rewritten.seq).toBeGreaterThan(1);
  });
});

describe('audit persistence under outage', () => {
  it('keeps entries in the outbox while the store is unreachable and catches up when it is back', async () => {
    const taskQueue = uniqueTaskQueue('audit-outage');
    let outage = true;
    class Outage implements ActivityInboundCallsInterceptor {
      constructor(private readonly c: Context) {}
      async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
        if (outage && this.c.info.activityType === 'appendAuditEntries') throw new Error('database unreachable');
        return next(input);
      }
    }
    await withWorker(
      ctx,
      { taskQueue, interceptors: { activity: [(c) => ({ inbound: new Outage(c) })] } },
      async () => {
        const { session } = await newSession(ctx, taskQueue, { breachPolicy: { baselineRate: 10_000 } });
        const a = did('a');
        await session.join({ agentDid: a, sigmaRaw: 0.9, actions: allActions });
        const view = await session.view();
        expect(view.audit).toMatchObject({ persistedSeq: 0, pending: view.audit.entries });
        outage = false;
        const settled = await eventually(
          () => session.view(),
          (v) => v.audit.pending === 0,
          60_000,
        );
        expect(settled.audit.persistedSeq).toBe(settled.audit.entries);
        await session.terminate();
        expect((await session.verifyAudit(verifyOptions())).ok).toBe(true);
      },
    );
  });
});
