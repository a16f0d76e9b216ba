import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLiabilityActivities } from '../../activities/liability.js';
import { readLedger, readStanding } from '../../store/liability.js';
import { ErrorType } from '../../domain/errors.js';
import { parseLiabilityPolicy, toMicro, type Vouch } from '../../domain/liability.js';
import { parseSagaDefinition } from '../../domain/saga-dsl.js';
import { testActivities, testPool } from '../helpers/audit.js';
import { actions, allActions, did, eventually, expectHvError, newSession } from '../helpers/session.js';
import { StepService } from '../helpers/step-service.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

const manifest = ['act-a', 'act-b', 'read'].map((actionId) => ({
  actionId,
  name: actionId,
  reversibility: 'full' as const,
}));

async function bondRows(sessionId: string): Promise<string[]> {
  const { rows } = await testPool().query<{ bond: string }>(
    'SELECT bond FROM vouches WHERE session_id = $1 ORDER BY created_at, vouch_id',
    [sessionId],
  );
  return rows.map((r) => r.bond);
}

describe('vouching in a session, stored exactly in Postgres', () => {
  it('holds the reference numbers: 0.45 bonded, limit 0.72, 0.36 + 0.36 fits exactly, a third is refused', async () => {
    const taskQueue = uniqueTaskQueue('vouch');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [voucher, other] = [did('voucher'), did('other')];
      await session.join({ agentDid: voucher, sigmaRaw: 0.9, actions: manifest });
      await session.join({ agentDid: other, sigmaRaw: 0.9, actions: manifest });

      const first = await session.vouch({ voucherDid: voucher, voucheeDid: did('v1'), bondPct: 0.5 });
      expect(first.bond).toBe(0.45);
      const refused = await expectHvError(
        session.vouch({ voucherDid: voucher, voucheeDid: did('v2'), bondPct: 0.5 }),
        ErrorType.VouchRejected,
      );
      expect(refused.message).toMatch(/exceed max exposure/);
      expect(refused.details).toMatchObject({ reason: 'max_exposure', limit: toMicro(0.72) });
      expect(await bondRows(session.sessionId)).toEqual(['0.450000']);

      // A second voucher: 0.36 + 0.36 = 0.72 exactly at the limit, then nothing more.
      await session.vouch({ voucherDid: other, voucheeDid: did('w1'), bondPct: 0.4 });
      await session.vouch({ voucherDid: other, voucheeDid: did('w2'), bondPct: 0.4 });
      await expectHvError(
        session.vouch({ voucherDid: other, voucheeDid: did('w3'), bondPct: 0.1 }),
        ErrorType.VouchRejected,
      );
      expect(await bondRows(session.sessionId)).toEqual(['0.450000', '0.360000', '0.360000']);

      await expectHvError(session.vouch({ voucherDid: voucher, voucheeDid: voucher }), ErrorType.VouchRejected);
      const weak = did('weak');
      await session.join({ agentDid: weak, sigmaRaw: 0.45 });
      const low = await expectHvError(
        session.vouch({ voucherDid: weak, voucheeDid: did('x') }),
        ErrorType.VouchRejected,
      );
      expect(low.message).toMatch(/below minimum/);
      const [p, q] = [did('p'), did('q')];
      await session.join({ agentDid: p, sigmaRaw: 0.9 });
      await session.join({ agentDid: q, sigmaRaw: 0.9 });
      await session.vouch({ voucherDid: p, voucheeDid: q, bondPct: 0.1 });
      const cycle = await expectHvError(session.vouch({ voucherDid: q, voucheeDid: p }), ErrorType.VouchRejected);
      expect(cycle.message).toMatch(/Circular/);
      const ledger = await readLedger(testPool(), voucher);
      expect(ledger.map((e) => e.entryType)).toContain('vouch_given');
    });
  });

  it('raises the vouchee’s eff-score at join: σ 0.5 + 0.5 × 0.45 = 0.725 → ring 2 instead of the sandbox', async () => {
    const taskQueue = uniqueTaskQueue('vouch-eff');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [sponsor, protege, loner] = [did('sponsor'), did('protege'), did('loner')];
      await session.join({ agentDid: sponsor, sigmaRaw: 0.9 });
      await session.vouch({ voucherDid: sponsor, voucheeDid: protege, bondPct: 0.5 });
      expect(await session.join({ agentDid: protege, sigmaRaw: 0.5 })).toMatchObject({
        ring: 2,
        effScore: 0.725,
        sandboxed: false,
      });
      expect(await session.join({ agentDid: loner, sigmaRaw: 0.5 })).toMatchObject({ ring: 3, sandboxed: true });
      const commitment = await session.terminate();
      expect(commitment.entryCount).toBeGreaterThan(0);
      const { rows } = await testPool().query<{ released: boolean }>(
        'SELECT released_at IS NOT NULL AS released FROM vouches WHERE session_id = $1',
        [session.sessionId],
      );
      expect(rows).toEqual([{ released: true }]);
    });
  });
});

describe('slashing on the real database', () => {
  const acts = createLiabilityActivities({ pool: testPool() });
  const vouch = (sessionId: string, voucherDid: string, voucheeDid: string, sigma: number): Vouch => ({
    vouchId: randomUUID(),
    sessionId,
    voucherDid,
    voucheeDid,
    voucherSigma: toMicro(sigma),
    bond: toMicro(sigma * 0.2),
    createdAtMs: Date.now(),
    expiresAtMs: null,
    releasedAtMs: null,
  });
  async function slash(omega: number, sponsors: Array<[string, number]>, culprit = did('culprit')) {
    const sessionId = `slash-${randomUUID()}`;
    for (const [sponsor, sigma] of sponsors)
      await acts.recordVouch({ vouch: vouch(sessionId, sponsor, culprit, sigma) });
    const changes = await acts.slashAgent({
      slashId: `${sessionId}/s`,
      sessionId,
      culpritDid: culprit,
      culpritSigma: 0.7,
      reason: 'test',
      policy: parseLiabilityPolicy({ omega }),
      nowMs: Date.now(),
    });
    const sigmas = Object.fromEntries(
      await Promise.all(
        [culprit, ...sponsors.map(([s]) => s)].map(async (d) => [d, (await readStanding(testPool(), d)).sigma]),
      ),
    ) as Record<string, number | null>;
    return { culprit, changes, sigmas, sessionId };
  }

  it('ω 0.5: the vouchee drops to 0 (blacklisted) and its sponsor 0.9 → 0.45', async () => {
    const sponsor = did('s');
    const { culprit, sigmas } = await slash(0.5, [[sponsor, 0.9]]);
    expect(sigmas).toEqual({ [culprit]: 0, [sponsor]: 0.45 });
    expect((await readStanding(testPool(), culprit)).blacklisted).toBe(true);
  });

  it('ω 0.3: sponsors 0.8 → 0.56 and 0.7 → 0.49; the 0.05 floor holds; a retried slash changes nothing', async () => {
    const [v1, v2] = [did('v1'), did('v2')];
    const { sigmas, sessionId, culprit, changes } = await slash(0.3, [
      [v1, 0.8],
      [v2, 0.7],
    ]);
    expect(sigmas[v1]).toBe(0.56);
    expect(sigmas[v2]).toBe(0.49);
    const again = await acts.slashAgent({
      slashId: `${sessionId}/s`,
      sessionId,
      culpritDid: culprit,
      culpritSigma: 0.7,
      reason: 'test',
      policy: parseLiabilityPolicy({ omega: 0.3 }),
      nowMs: Date.now(),
    });
    expect(again).toEqual(changes);
    expect((await readStanding(testPool(), v1)).sigma).toBe(0.56);
    const low = did('low');
    const floored = await slash(0.95, [[low, 0.06]]);
    expect(floored.sigmas[low]).toBe(0.05);
  });
});

describe('an escalated saga in a session with a sponsor', () => {
  it('slashes the culprit and its sponsor, and the culprit’s next join is refused by its standing', async () => {
    const taskQueue = uniqueTaskQueue('liability-e2e');
    const service = await StepService.start();
    try {
      await withWorker(ctx, { taskQueue, activities: testActivities({ stepBaseUrl: service.url }) }, async () => {
        const { session, hv } = await newSession(ctx, taskQueue);
        const [sponsor, culprit] = [did('sponsor'), did('culprit')];
        await session.join({ agentDid: sponsor, sigmaRaw: 0.9, actions: manifest });
        await session.vouch({ voucherDid: sponsor, voucheeDid: culprit, bondPct: 0.5 });
        await session.join({ agentDid: culprit, sigmaRaw: 0.7, actions: manifest });
        await session.activate();
        // The culprit's second step fails and the undo of its first step fails too: the saga escalates.
        service.on('/b/do', () => ({ status: 500 })).on('/a/undo', () => ({ status: 500 }));
        const steps = ['a', 'b'].map((id) => ({
          id,
          action_id: `act-${id}`,
          agent: culprit,
          execute_api: `/${id}/do`,
          undo_api: `/${id}/undo`,
        }));
        const view = await (
          await hv.startSaga(
            { name: 'doomed', session_id: session.sessionId, steps },
            { options: { retryInitialIntervalMs: 50, compensationAttempts: 2 } },
          )
        ).result();
        expect(view.status).toBe('escalated');

        await eventually(
          () => session.auditTail(40),
          (t) => t.some((e) => e.entry.kind === 'slash'),
        );
        const tail = await session.auditTail(40);
        const slashEntry = tail.find((e) => e.entry.kind === 'slash')!;
        expect(slashEntry.entry.agentDid).toBe(culprit);
        expect(tail.find((e) => e.entry.kind === 'saga_fault_attributed')?.payload).toMatchObject({
          rootCause: culprit,
        });
        expect(await readStanding(testPool(), culprit)).toMatchObject({
          sigma: 0,
          blacklisted: true,
          recommendation: 'deny',
        });
        expect((await readStanding(testPool(), sponsor)).sigma).toBe(0.45);
        const culpritLedger = (await readLedger(testPool(), culprit)).map((e) => e.entryType);
        expect(culpritLedger).toEqual(expect.arrayContaining(['vouch_received', 'fault_attributed', 'slash_received']));
        expect((await readLedger(testPool(), sponsor)).map((e) => e.entryType)).toContain('slash_cascaded');

        // Next session: the culprit is refused; the sponsor's σ is now 0.45, so it lands in the sandbox.
        const next = await newSession(ctx, taskQueue);
        const denied = await expectHvError(
          next.session.join({ agentDid: culprit, sigmaRaw: 0.9 }),
          ErrorType.StandingDenied,
        );
        expect(denied.details).toMatchObject({ blacklisted: true });
        expect(await next.session.join({ agentDid: sponsor, sigmaRaw: 0.9 })).toMatchObject({
          ring: 3,
          effScore: 0.45,
        });
        const nextTail = await next.session.auditTail(10);
        expect(nextTail.some((e) => e.entry.kind === 'join_denied' && e.entry.agentDid === culprit)).toBe(true);
      });
    } finally {
      await service.close();
    }
  });

  it('puts an agent with a fault record on probation: ring 3 whatever its σ', async () => {
    const taskQueue = uniqueTaskQueue('probation');
    await withWorker(ctx, { taskQueue }, async () => {
      const agent = did('sloppy');
      const acts = createLiabilityActivities({ pool: testPool() });
      // Two sagas it alone made fail: two fault_attributed entries of 0.5 → risk 1 − e^(−0.5) ≈ 0.39.
      for (const sagaId of [randomUUID(), randomUUID()])
        await acts.attributeSagaFault({
          sagaId,
          sessionId: 'elsewhere',
          definition: parseSagaDefinition({
            name: 'x',
            session_id: 'elsewhere',
            steps: [{ id: 's', action_id: 'a', agent }],
          }),
          steps: [{ stepId: 's', agentDid: agent, state: 'failed' }],
        });
      expect(await readStanding(testPool(), agent)).toMatchObject({ recommendation: 'probation' });
      const { session } = await newSession(ctx, taskQueue);
      expect(await session.join({ agentDid: agent, sigmaRaw: 0.9 })).toMatchObject({ ring: 3, standing: 'probation' });
    });
  });
});

describe('a CRITICAL ring breach', () => {
  async function climb(slashOn?: string[]) {
    const taskQueue = uniqueTaskQueue('breach-slash');
    return withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 0.5 },
        ...(slashOn ? { slashOn: slashOn as never } : {}),
      });
      const [sponsor, climber] = [did('sponsor'), did('climber')];
      await session.join({ agentDid: sponsor, sigmaRaw: 0.8 });
      await session.vouch({ voucherDid: sponsor, voucheeDid: climber });
      await session.join({ agentDid: climber, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      for (let i = 0; i < 6; i++) await session.authorize({ agentDid: climber, actionId: actions.deploy.actionId });
      await session.terminate();
      // Read while a worker still polls: a query on a closed workflow replays it.
      const kinds = (await session.auditTail(60)).map((e) => e.entry.kind);
      return { kinds, sponsor, climber };
    });
  }

  it('slashes the climber and cascades to its sponsor (default policy), recorded in the chain', async () => {
    const { kinds, sponsor, climber } = await climb();
    expect(kinds).toContain('slash');
    expect(await readStanding(testPool(), climber)).toMatchObject({ sigma: 0, blacklisted: true });
    expect((await readStanding(testPool(), sponsor)).sigma).toBe(0.4);
  });

  it('slashes nobody when the session policy says so', async () => {
    const { sponsor, climber } = await climb([]);
    expect((await readStanding(testPool(), climber)).sigma).toBeNull();
    expect((await readStanding(testPool(), sponsor)).sigma).toBeNull();
  });
});
