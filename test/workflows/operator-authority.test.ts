import { randomBytes } from 'node:crypto';
import type { UpdateDefinition } from '@temporalio/common';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HypervisorClient, type SessionHandle } from '../../client/hypervisor-client.js';
import { toHypervisorError } from '../../client/errors.js';
import { signedArgs } from '../../client/operator-signing.js';
import { ErrorType } from '../../domain/errors.js';
import { publicKeyOf, signCommand, type OperatorSigner } from '../../domain/operator-command.js';
import * as msg from '../../workflows/messages.js';
import { newOperatorKey, registerTestOperator, testAdmin } from '../helpers/operators.js';
import { auditSettled, did, eventually, expectHvError, historyLength } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

type Forgery = 'unsigned' | 'wrong_key' | 'unknown_key' | 'non_operator' | 'wrong_workflow' | 'expired';
const FORGERIES: Forgery[] = ['unsigned', 'wrong_key', 'unknown_key', 'non_operator', 'wrong_workflow', 'expired'];

interface World {
  hv: HypervisorClient;
  session: SessionHandle;
  creator: OperatorSigner;
  outsider: OperatorSigner;
  agent: string;
}

/** A session whose creator is a registered operator (not an admin), with one active agent. */
async function world(taskQueue: string): Promise<World> {
  const creator = await registerTestOperator(did('creator'));
  const outsider = await registerTestOperator(did('outsider'));
  const hv = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: creator });
  const session = await hv.createSession({ creatorDid: creator.did });
  const agent = did('agent');
  await session.join({ agentDid: agent, sigmaRaw: 0.9 });
  return { hv, session, creator, outsider, agent };
}

/** The payload a forger sends for `cmd` with `args` (the actor field names the creator, as a forger would). */
function forged(w: World, kind: Forgery, cmd: string, args: Record<string, unknown>): unknown {
  const workflowId = w.session.workflow.workflowId;
  switch (kind) {
    case 'unsigned':
      return args;
    case 'wrong_key':
      return signedArgs({ ...w.creator, privateKey: randomBytes(32).toString('hex') }, cmd, workflowId, args);
    case 'unknown_key':
      return signedArgs(newOperatorKey(w.creator.did), cmd, workflowId, args);
    case 'non_operator':
      return signedArgs(w.outsider, cmd, workflowId, { ...args, authorizedBy: w.outsider.did });
    case 'wrong_workflow':
      return signedArgs(w.creator, cmd, 'session:another', args);
    case 'expired': {
      const nowMs = Date.now() - 5 * 60_000;
      const auth = signCommand({ signer: w.creator, cmd, workflowId, args, nowMs, nonce: nonce(), lifetimeMs: 60_000 });
      return { ...args, auth };
    }
  }
}
const nonce = () => randomBytes(16).toString('base64url');

/** Every session control command, with arguments its validator would otherwise accept or dry-run. */
const controls = (w: World): Array<{ def: UpdateDefinition<unknown, [never]>; args: Record<string, unknown> }> =>
  [
    { def: msg.requestKillUpdate, args: { killId: 'k-1', agentDid: w.agent, reason: 'manual' } },
    { def: msg.quarantineAgentUpdate, args: { agentDid: w.agent, reason: 'manual' } },
    { def: msg.releaseQuarantineUpdate, args: { agentDid: w.agent } },
    { def: msg.requestRevocationUpdate, args: { agentDid: w.agent } },
    { def: msg.terminateSessionUpdate, args: { reason: 'forged' } },
    { def: msg.approveJoinUpdate, args: { candidateDid: did('cand'), approverDid: w.creator.did } },
    {
      def: msg.requestElevationUpdate,
      args: { agentDid: w.agent, targetRing: 1, reason: 'forged', approvedBy: w.creator.did },
    },
  ].map((c) => ({
    def: c.def as UpdateDefinition<unknown, [never]>,
    args: 'approverDid' in c.args || 'approvedBy' in c.args ? c.args : { ...c.args, authorizedBy: w.creator.did },
  }));

async function refusedWithoutTrace(w: World, def: UpdateDefinition<unknown, [never]>, payload: unknown) {
  const before = await historyLength(w.session);
  const viewBefore = await w.session.view();
  const send = w.session.workflow.executeUpdate(def as UpdateDefinition<unknown, [unknown]>, { args: [payload] });
  await expectHvError(
    send.catch((err: unknown) => {
      throw toHypervisorError(err);
    }),
    ErrorType.PermissionDenied,
  );
  expect(await historyLength(w.session)).toBe(before);
  const viewAfter = await w.session.view();
  expect({ ...viewAfter, historyLength: 0 }).toEqual({ ...viewBefore, historyLength: 0 });
}

describe('operator authority over session control commands', () => {
  it('refuses every forged, misdirected or expired control command with no history and no state change', async () => {
    const taskQueue = uniqueTaskQueue('authority');
    await withWorker(ctx, { taskQueue }, async () => {
      const w = await world(taskQueue);
      // The directory is read at run start: let it land and the audit trail settle before measuring history.
      await w.session.workflow.executeUpdate(msg.refreshOperatorKeysUpdate);
      await auditSettled(w.session);
      const commands = controls(w);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...commands.keys()), fc.constantFrom(...FORGERIES), async (i, kind) => {
          const c = commands[i]!;
          await refusedWithoutTrace(w, c.def, forged(w, kind, c.def.name, c.args));
        }),
        { seed: 13, numRuns: 48 },
      );
    });
  });

  it('accepts the same commands signed by a session operator, and records who signed', async () => {
    const taskQueue = uniqueTaskQueue('authority-ok');
    await withWorker(ctx, { taskQueue }, async () => {
      const w = await world(taskQueue);
      const s = w.session;
      await s.activate();
      const grant = await s.elevate({ agentDid: w.agent, targetRing: 1, reason: 'hotfix', approvedBy: w.creator.did });
      expect(grant.approvedBy).toBe(w.creator.did);
      await s.revokeElevation({ agentDid: w.agent });
      await s.quarantine({ agentDid: w.agent, reason: 'manual' });
      await s.releaseQuarantine({ agentDid: w.agent });
      const kill = await s.kill({ agentDid: w.agent, reason: 'manual' });
      expect(kill).toMatchObject({ applied: true });
      // A namespace admin may act on any session.
      const admin = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: testAdmin }).session(s.sessionId);
      await admin.terminate({ reason: 'done' });
      const tail = await s.auditTail(50);
      const signed = (kind: string) => tail.find((e) => e.entry.kind === kind)?.payload as { signedBy?: unknown };
      expect(signed('kill')?.signedBy).toMatchObject({ did: w.creator.did, kid: w.creator.kid });
      expect(signed('session_terminating')?.signedBy).toMatchObject({ did: testAdmin.did, kid: testAdmin.kid });
    });
  });

  it('refuses a command in someone else’s name and a replayed command, also after continue-as-new', async () => {
    const taskQueue = uniqueTaskQueue('authority-replay');
    await withWorker(ctx, { taskQueue }, async () => {
      const w = await world(taskQueue);
      const wfId = w.session.workflow.workflowId;
      await w.session.workflow.executeUpdate(msg.refreshOperatorKeysUpdate);
      const other = did('someone');
      const inOtherName = signedArgs(w.creator, 'requestKill', wfId, {
        killId: 'k-2',
        agentDid: w.agent,
        reason: 'manual',
        authorizedBy: other,
      });
      await auditSettled(w.session);
      await refusedWithoutTrace(w, msg.requestKillUpdate as never, inOtherName);

      const quarantine = signedArgs(w.creator, 'quarantineAgent', wfId, { agentDid: w.agent, reason: 'manual' });
      await w.session.workflow.executeUpdate(msg.quarantineAgentUpdate, { args: [quarantine as never] });
      await auditSettled(w.session);
      await refusedWithoutTrace(w, msg.quarantineAgentUpdate as never, quarantine);

      // Enough history for the run to continue as new (MAX_RUN_EVENTS): signals nobody handles add one event each.
      const { runId } = await w.session.view();
      const noop = { name: 'noop', type: 'signal' } as never;
      for (let i = 0; i < 2_000; i += 50)
        await Promise.all(Array.from({ length: 50 }, () => w.session.workflow.signal(noop)));
      await eventually(
        () => w.session.view(),
        (v) => v.runId !== runId,
        60_000,
      );
      await w.session.workflow.executeUpdate(msg.refreshOperatorKeysUpdate);
      await auditSettled(w.session);
      await refusedWithoutTrace(w, msg.quarantineAgentUpdate as never, quarantine);
      // A fresh command still works in the new run.
      expect(await w.session.releaseQuarantine({ agentDid: w.agent })).toEqual({ released: true });
    });
  }, 120_000);

  it('drops an unsigned kill signal and records it as rejected; a signed one kills', async () => {
    const taskQueue = uniqueTaskQueue('authority-signal');
    await withWorker(ctx, { taskQueue }, async () => {
      const w = await world(taskQueue);
      await w.session.workflow.signal(msg.killAgentSignal, {
        killId: 'k-forged',
        agentDid: w.agent,
        reason: 'manual',
        authorizedBy: w.creator.did,
      });
      const rejected = await eventually(
        () => w.session.auditTail(20),
        (tail) => tail.some((e) => e.entry.kind === 'killAgent_rejected'),
      );
      expect(rejected.some((e) => e.entry.kind === 'agent_killed')).toBe(false);
      await w.session.sendKill({ agentDid: w.agent, reason: 'manual' });
      await eventually(
        () => w.session.view(),
        (v) => v.participants.find((p) => p.agentDid === w.agent)?.status === 'killed',
      );
    });
  });
});

describe('operator authority over identity commands', () => {
  it('refuses unsigned, unknown-key and wrong-workflow trips and accepts a registered operator’s', async () => {
    const taskQueue = uniqueTaskQueue('authority-identity');
    await withWorker(ctx, { taskQueue }, async () => {
      const w = await world(taskQueue);
      const agentHandle = w.hv.agent(w.agent);
      const wfId = agentHandle.workflow.workflowId;
      await agentHandle.workflow.executeUpdate(msg.refreshOperatorKeysUpdate);
      const args = { reason: 'looks wrong', authorizedBy: w.creator.did };
      const forgeries = [
        args,
        signedArgs(newOperatorKey(w.creator.did), 'tripKillSwitch', wfId, args),
        signedArgs(w.creator, 'tripKillSwitch', msg.agentWorkflowId('did:mesh:other'), args),
        signedArgs(w.creator, 'unblockKillSwitch', wfId, args),
      ];
      for (const payload of forgeries) {
        const before = (await agentHandle.workflow.describe()).historyLength;
        await expectHvError(
          agentHandle.workflow
            .executeUpdate(msg.tripKillSwitchUpdate, { args: [payload as never] })
            .catch((err: unknown) => {
              throw toHypervisorError(err);
            }),
          ErrorType.PermissionDenied,
        );
        expect((await agentHandle.workflow.describe()).historyLength).toBe(before);
      }
      await expectHvError(
        agentHandle.workflow
          .executeUpdate(msg.configureKillSwitchUpdate, { args: [{ enabled: true }] })
          .catch((err: unknown) => {
            throw toHypervisorError(err);
          }),
        ErrorType.PermissionDenied,
      );
      expect((await agentHandle.status()).blocked).toBeNull();
      await agentHandle.configure({ enabled: true });
      const tripped = await agentHandle.trip({ reason: 'looks wrong' });
      expect(tripped.blocked).toMatchObject({ trigger: 'operator', authorizedBy: w.creator.did });
      await agentHandle.unblock({ reason: 'false positive' });
      expect((await agentHandle.status()).blocked).toBeNull();
      // The session the agent is in records who signed the trip and the unblock (non-repudiation).
      const breakGlass = await eventually(
        async () => (await w.session.auditTail(20)).filter((e) => e.entry.kind === 'break_glass_used'),
        (entries) => entries.length === 2,
      );
      for (const e of breakGlass)
        expect(e.payload).toMatchObject({
          authorized_by: w.creator.did,
          signedBy: { did: w.creator.did, kid: w.creator.kid, sig: expect.any(String) as unknown },
        });
    });
  });
});

describe('the operator registry', () => {
  it('takes signed registrations, rotations and revocations, and refuses them from a non-admin', async () => {
    const taskQueue = uniqueTaskQueue('registry');
    await withWorker(ctx, { taskQueue }, async () => {
      const admin = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: testAdmin }).operatorRegistry();
      const first = newOperatorKey(did('rotating'));
      const entry = await admin.register({ did: first.did, publicKey: publicKeyOf(first.privateKey) });
      expect(entry).toMatchObject({ did: first.did, role: 'operator', keys: [{ kid: first.kid, revokedAtMs: null }] });

      const asOperator = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: first }).operatorRegistry();
      const stranger = newOperatorKey(did('stranger'));
      await expectHvError(
        asOperator.register({ did: stranger.did, publicKey: publicKeyOf(stranger.privateKey) }),
        ErrorType.PermissionDenied,
      );
      await expectHvError(
        asOperator.register({ did: first.did, publicKey: publicKeyOf(stranger.privateKey), role: 'admin' }),
        ErrorType.PermissionDenied,
      );
      // A rotation: the operator adds its next key with the one it holds, then revokes the old one.
      const next = newOperatorKey(first.did);
      await asOperator.register({ did: first.did, publicKey: publicKeyOf(next.privateKey) });
      const revoked = await asOperator.revoke(first.kid);
      expect(revoked.keys.map((k) => [k.kid, k.revokedAtMs === null])).toEqual([
        [first.kid, false],
        [next.kid, true],
      ]);
      // The mirror has it: a new session's copy knows the new key and refuses the old one.
      const hvNext = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: next });
      const session = await hvNext.createSession({ creatorDid: first.did });
      await session.join({ agentDid: did('agent'), sigmaRaw: 0.9 });
      await session.activate();
      const hvOld = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: first });
      await expectHvError(hvOld.session(session.sessionId).terminate(), ErrorType.PermissionDenied);
      expect((await session.terminate()).entryCount).toBeGreaterThan(0);
    });
  });
});
